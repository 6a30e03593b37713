using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace EmbeddingKit.Postgres.Storage;

/// <summary>
/// One pgvector embedding table: <c>halfvec(K)</c> vectors keyed by <c>(entity_type, entity_id, model)</c>, one table per
/// dimension count and many models per table. Returns the DDL of the table and of its per-model indexes, so a host can
/// run it from its own migrations or through <see cref="EmbeddingIndexManager"/>.
/// </summary>
/// <remarks>
/// Every identifier is validated and quoted with <see cref="PostgresIdentifier"/>; a model name (arbitrary text such as
/// <c>BAAI/bge-m3</c>) only ever appears as a literal from <see cref="PostgresIdentifier.QuoteLiteral"/>, in index
/// predicates and search SQL. The <c>vector</c> extension (pgvector 0.7 or later; 0.8 for iterative scans) must be
/// installed in a schema on the <c>search_path</c>.
/// </remarks>
public sealed class EmbeddingTable : IEquatable<EmbeddingTable>
{
    /// <summary>The most dimensions HNSW can index on <c>halfvec</c>.</summary>
    public const int MaxDimensions = 4000;

    /// <summary>The SQL that installs pgvector when it is missing (needs the privilege to create extensions).</summary>
    internal const string CreateExtensionSql = "CREATE EXTENSION IF NOT EXISTS vector";

    private const int MaxTablePartBytes = 28;

    /// <summary>Describes the table <paramref name="name"/> (default <see cref="DefaultName"/>) in <paramref name="schema"/>.</summary>
    /// <param name="schema">The schema (a plain identifier).</param>
    /// <param name="dimensions">The vector dimensions, 1 to <see cref="MaxDimensions"/>.</param>
    /// <param name="name">The table name (a plain identifier); <c>embeddingkit_embeddings_{dimensions}</c> when null.</param>
    public EmbeddingTable(string schema, int dimensions, string? name = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(dimensions, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(dimensions, MaxDimensions);
        Schema = PostgresIdentifier.Validate(schema, nameof(schema));
        Dimensions = dimensions;
        Name = PostgresIdentifier.Validate(name ?? DefaultName(dimensions), nameof(name));
        QualifiedName = PostgresIdentifier.Qualify(Schema, Name);
    }

    /// <summary>Gets the schema.</summary>
    public string Schema { get; }

    /// <summary>Gets the table name.</summary>
    public string Name { get; }

    /// <summary>Gets the vector dimensions (the <c>K</c> of <c>halfvec(K)</c>).</summary>
    public int Dimensions { get; }

    /// <summary>Gets <c>"schema"."name"</c>, quoted.</summary>
    public string QualifiedName { get; }

    /// <summary>Gets the operator class of the HNSW index and the distance search uses. Default
    /// <see cref="HalfvecOperatorClass.InnerProduct"/> (vectors are L2-normalized).</summary>
    public HalfvecOperatorClass OperatorClass { get; init; } = HalfvecOperatorClass.InnerProduct;

    /// <summary>Gets the HNSW <c>m</c> (links per node) of both indexes. Default 16, pgvector's default.</summary>
    public int HnswM
    {
        get;
        init => field = value is >= 2 and <= 100 ? value : throw new ArgumentOutOfRangeException(nameof(value), value, "HNSW m must be 2 to 100.");
    } = 16;

    /// <summary>Gets the HNSW <c>ef_construction</c> of both indexes. Default 64, pgvector's default.</summary>
    public int HnswEfConstruction
    {
        get;
        init => field = value is >= 4 and <= 1000 ? value : throw new ArgumentOutOfRangeException(nameof(value), value, "HNSW ef_construction must be 4 to 1000.");
    } = 64;

    /// <summary>The default table name for a dimension count: <c>embeddingkit_embeddings_{dimensions}</c>.</summary>
    public static string DefaultName(int dimensions) => "embeddingkit_embeddings_" + dimensions.ToString(CultureInfo.InvariantCulture);

    /// <summary>Gets the distance operator of <see cref="OperatorClass"/>: <c>&lt;#&gt;</c> or <c>&lt;=&gt;</c>.</summary>
    public string DistanceOperator => OperatorClass == HalfvecOperatorClass.Cosine ? "<=>" : "<#>";

    /// <summary>Gets <c>binary_quantize(embedding)::bit(K)</c>, the expression the binary-quantized index is built on
    /// (a query must repeat it exactly for the planner to use the index).</summary>
    public string BinaryQuantizedExpression => $"binary_quantize(embedding)::bit({Dimensions.ToString(CultureInfo.InvariantCulture)})";

    /// <summary>Gets the <c>halfvec(K)</c> type name.</summary>
    public string VectorType => $"halfvec({Dimensions.ToString(CultureInfo.InvariantCulture)})";

    /// <summary>Returns <c>CREATE TABLE IF NOT EXISTS</c> for the table, keyed by <c>(entity_type, entity_id, model,
    /// chunk)</c>: an entity that is not chunked is chunk 0; <c>chunk_start</c> and <c>chunk_length</c> are a chunk's span
    /// in the document (null for chunk 0 of an unchunked entity). Pages keep 10% free so that raising the generation of
    /// unchanged content (a touch) can be a heap-only update that writes no index entries. Tables created before the
    /// chunk key are moved to it by <see cref="UpgradeToChunkKeySql"/>.</summary>
    public string CreateTableSql() => $"""
        CREATE TABLE IF NOT EXISTS {QualifiedName} (
            entity_type  text        NOT NULL,
            entity_id    text        NOT NULL,
            model        text        NOT NULL,
            embedding    {VectorType} NOT NULL,
            content_hash bytea       NOT NULL,
            generation   bigint      NOT NULL,
            created_at   timestamptz NOT NULL DEFAULT now(),
            updated_at   timestamptz NOT NULL DEFAULT now(),
            chunk        integer     NOT NULL DEFAULT 0,
            chunk_start  integer,
            chunk_length integer,
            PRIMARY KEY (entity_type, entity_id, model, chunk)
        ) WITH (fillfactor = 90)
        """;

    /// <summary>The name of the unique index the chunk key is built as before it becomes the primary key (see
    /// <see cref="UpgradeToChunkKeySql"/>).</summary>
    public string ChunkKeyIndexName => IndexName("key", "chunk");

    /// <summary>
    /// The statements that move a table created before the chunk key (primary key <c>(entity_type, entity_id,
    /// model)</c>) to it without rewriting a row: the three chunk columns are added (a constant default: a catalog-only
    /// change), the new key is built as a unique index with <c>CREATE INDEX CONCURRENTLY</c> (reads the table, blocks no
    /// writes), and one short <c>ALTER TABLE</c> swaps it in as the primary key. Each statement runs on its own, outside a
    /// transaction; each is idempotent, and a half-built index left by an interrupted run is dropped first.
    /// <see cref="EmbeddingIndexManager.EnsureTableAsync"/> runs them when the table still has the old key.
    /// </summary>
    public IReadOnlyList<string> UpgradeToChunkKeySql()
    {
        var table = PostgresIdentifier.QuoteLiteral(QualifiedName);
        var index = PostgresIdentifier.Qualify(Schema, ChunkKeyIndexName);
        var indexLiteral = PostgresIdentifier.QuoteLiteral(ChunkKeyIndexName);
        return
        [
            $"""
            ALTER TABLE {QualifiedName}
                ADD COLUMN IF NOT EXISTS chunk integer NOT NULL DEFAULT 0,
                ADD COLUMN IF NOT EXISTS chunk_start integer,
                ADD COLUMN IF NOT EXISTS chunk_length integer
            """,
            $"""
            DO $$
            BEGIN
                IF EXISTS (SELECT 1 FROM pg_index WHERE indexrelid = to_regclass({PostgresIdentifier.QuoteLiteral(index)}) AND NOT indisvalid) THEN
                    EXECUTE 'DROP INDEX {index.Replace("'", "''", StringComparison.Ordinal)}';
                END IF;
            END $$
            """,
            $"CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS {PostgresIdentifier.Quote(ChunkKeyIndexName)} ON {QualifiedName} (entity_type, entity_id, model, chunk)",
            $"""
            DO $$
            DECLARE
                pk name;
            BEGIN
                SELECT conname INTO pk FROM pg_constraint WHERE conrelid = {table}::regclass AND contype = 'p' AND cardinality(conkey) = 3;
                IF pk IS NOT NULL THEN
                    EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I, ADD CONSTRAINT %I PRIMARY KEY USING INDEX %I', {table}::regclass, pk, pk, {indexLiteral});
                END IF;
            END $$
            """,
        ];
    }

    /// <summary>Returns a query of one boolean: whether the table still has the primary key of before the chunk key.</summary>
    internal string NeedsChunkKeySql() =>
        $"SELECT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = {PostgresIdentifier.QuoteLiteral(QualifiedName)}::regclass AND contype = 'p' AND cardinality(conkey) = 3)";

    /// <summary>The name of the model's HNSW index on the <c>halfvec</c> column: table, <c>hnsw</c>, the model
    /// reduced to <c>[a-z0-9_]</c> and a hash of table and model, at most 63 bytes.</summary>
    public string HnswIndexName(string model) => IndexName("hnsw", model);

    /// <summary>The name of the model's binary-quantized index (as <see cref="HnswIndexName"/>, with <c>bq</c>).</summary>
    public string BinaryQuantizedIndexName(string model) => IndexName("bq", model);

    /// <summary>Returns the DDL of the model's HNSW partial index:
    /// <c>USING hnsw (embedding halfvec_ip_ops) WHERE model = '…'</c>.</summary>
    /// <param name="model">The model name, spliced as a quoted literal.</param>
    /// <param name="concurrently">Whether to build with <c>CONCURRENTLY</c> (writes go on; must run outside a transaction).</param>
    public string CreateHnswIndexSql(string model, bool concurrently = true)
    {
        var opClass = OperatorClass == HalfvecOperatorClass.Cosine ? "halfvec_cosine_ops" : "halfvec_ip_ops";
        return CreateIndexSql(HnswIndexName(model), $"embedding {opClass}", model, concurrently);
    }

    /// <summary>Returns the DDL of the model's binary-quantized partial index:
    /// <c>USING hnsw ((binary_quantize(embedding)::bit(K)) bit_hamming_ops) WHERE model = '…'</c>.</summary>
    /// <param name="model">The model name, spliced as a quoted literal.</param>
    /// <param name="concurrently">Whether to build with <c>CONCURRENTLY</c>.</param>
    public string CreateBinaryQuantizedIndexSql(string model, bool concurrently = true) =>
        CreateIndexSql(BinaryQuantizedIndexName(model), $"({BinaryQuantizedExpression}) bit_hamming_ops", model, concurrently);

    /// <summary>Returns <c>DROP INDEX [CONCURRENTLY] IF EXISTS</c> for an index of this table's schema.</summary>
    public string DropIndexSql(string indexName, bool concurrently = true) =>
        $"DROP INDEX {(concurrently ? "CONCURRENTLY " : string.Empty)}IF EXISTS {PostgresIdentifier.Qualify(Schema, indexName)}";

    /// <summary>Returns <c>model = '…'</c> with the model as a quoted literal: the predicate of the partial indexes,
    /// which a query must repeat as a literal (a generic plan of <c>model = $1</c> cannot use a partial index).</summary>
    internal static string ModelPredicate(string model)
    {
        ArgumentException.ThrowIfNullOrEmpty(model);
        return "model = " + PostgresIdentifier.QuoteLiteral(model);
    }

    /// <inheritdoc />
    public override string ToString() => QualifiedName;

    private string CreateIndexSql(string indexName, string column, string model, bool concurrently) => string.Create(
        CultureInfo.InvariantCulture,
        $"CREATE INDEX {(concurrently ? "CONCURRENTLY " : string.Empty)}IF NOT EXISTS {PostgresIdentifier.Quote(indexName)} ON {QualifiedName} " +
        $"USING hnsw ({column}) WITH (m = {HnswM}, ef_construction = {HnswEfConstruction}) WHERE {ModelPredicate(model)}");

    private string IndexName(string kind, string model)
    {
        ArgumentException.ThrowIfNullOrEmpty(model);
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes(Name + "\0" + model));
        var suffix = Convert.ToHexStringLower(hash, 0, 4);
        var tablePart = Name.Length <= MaxTablePartBytes ? Name : Name[..MaxTablePartBytes];
        var room = PostgresIdentifier.MaxBytes - tablePart.Length - kind.Length - suffix.Length - 3;
        var modelPart = Sanitize(model, room);
        var name = modelPart.Length == 0 ? $"{tablePart}_{kind}_{suffix}" : $"{tablePart}_{kind}_{modelPart}_{suffix}";
        return PostgresIdentifier.Validate(name, nameof(model));
    }

    private static string Sanitize(string model, int maxLength)
    {
        var builder = new StringBuilder(Math.Min(model.Length, maxLength));
        foreach (var c in model)
        {
            if (builder.Length >= maxLength)
            {
                break;
            }

            var lower = char.ToLowerInvariant(c);
            if (lower is (>= 'a' and <= 'z') or (>= '0' and <= '9'))
            {
                builder.Append(lower);
            }
            else if (builder.Length > 0 && builder[^1] != '_')
            {
                builder.Append('_');
            }
        }

        return builder.ToString().TrimEnd('_');
    }

    /// <summary>Whether two descriptions name the same table with the same index settings. Tables are values: storage
    /// and search group records and cache statements by table, so two equal descriptions made at different times must
    /// share one group and one cache entry.</summary>
    /// <param name="other">The other table.</param>
    /// <returns>True when schema, name, dimensions, operator class and HNSW settings are all equal.</returns>
    public bool Equals(EmbeddingTable? other) =>
        other is not null
        && (ReferenceEquals(this, other)
            || (Dimensions == other.Dimensions
                && OperatorClass == other.OperatorClass
                && HnswM == other.HnswM
                && HnswEfConstruction == other.HnswEfConstruction
                && string.Equals(Schema, other.Schema, StringComparison.Ordinal)
                && string.Equals(Name, other.Name, StringComparison.Ordinal)));

    /// <inheritdoc />
    public override bool Equals(object? obj) => Equals(obj as EmbeddingTable);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(StringComparer.Ordinal.GetHashCode(Schema), StringComparer.Ordinal.GetHashCode(Name), Dimensions, OperatorClass, HnswM, HnswEfConstruction);

    /// <summary>Whether two tables are equal (<see cref="Equals(EmbeddingTable?)"/>).</summary>
    public static bool operator ==(EmbeddingTable? left, EmbeddingTable? right) => left is null ? right is null : left.Equals(right);

    /// <summary>Whether two tables differ (<see cref="Equals(EmbeddingTable?)"/>).</summary>
    public static bool operator !=(EmbeddingTable? left, EmbeddingTable? right) => !(left == right);
}
