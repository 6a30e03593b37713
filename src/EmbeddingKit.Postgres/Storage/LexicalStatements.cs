namespace EmbeddingKit.Postgres.Storage;

/// <summary>
/// The SQL of the lexical index (migration 4) in one schema: the full-text document of each entity, built from its text
/// and title with the entity type's text search configuration (<c>english</c> when none is set), and written and
/// deleted beside the vectors by <see cref="PgvectorEmbeddingStorage"/> under the same generation guard.
/// </summary>
internal sealed class LexicalStatements
{
    /// <summary>The most characters of a text or title that go into a document: <c>to_tsvector</c> refuses a document
    /// over 1 MB, and positions stop counting at 16,383 anyway.</summary>
    internal const int MaxChars = 200_000;

    public LexicalStatements(string schema)
    {
        Schema = PostgresIdentifier.Validate(schema, nameof(schema));
        Documents = PostgresIdentifier.Qualify(schema, "embeddingkit_lexical_documents");
        Configurations = PostgresIdentifier.Qualify(schema, "embeddingkit_lexical_configurations");
        HybridSettings = PostgresIdentifier.Qualify(schema, "embeddingkit_hybrid_settings");
    }

    public string Schema { get; }

    public string Documents { get; }

    public string Configurations { get; }

    public string HybridSettings { get; }

    /// <summary>The configuration of an entity type, as an expression over <paramref name="entityType"/>.</summary>
    public string ConfigurationOf(string entityType) =>
        $"coalesce((SELECT c.configuration FROM {Configurations} c WHERE c.entity_type = {entityType}), 'english'::regconfig)";

    /// <summary>The document of a row <paramref name="d"/> with <c>entity_type</c>, <c>body</c> and <c>title</c>: the
    /// title weighted A, the text B.</summary>
    private static string Document(string d) => $"""
        (CASE WHEN {d}.title IS NULL THEN ''::tsvector ELSE setweight(to_tsvector(cfg.configuration, left({d}.title, {MaxChars})), 'A') END
         || setweight(to_tsvector(cfg.configuration, left({d}.body, {MaxChars})), 'B'))
        """;

    private string Config(string d) => $"CROSS JOIN LATERAL (SELECT {ConfigurationOf(d + ".entity_type")} AS configuration) AS cfg";

    // One document per entity (two models of one table in a batch write the same entity twice): the newest generation.
    private const string OnConflict = """
        ON CONFLICT (entity_type, entity_id) DO UPDATE SET
            document = excluded.document, generation = excluded.generation, updated_at = now()
        WHERE lexical.generation <= excluded.generation
        """;

    /// <summary>Wraps a vector upsert (<paramref name="vectorInsert"/>, which must return entity_type, entity_id and
    /// generation of the rows it wrote, after the common table expressions <paramref name="ctes"/> it reads) so that the
    /// documents of the rows written are upserted in the same statement; <paramref name="documents"/> is a source of
    /// entity_type, entity_id, body and title. Returns the rows written.</summary>
    public string UpsertWithVectors(string ctes, string vectorInsert, string documents) => $"""
        WITH {ctes},
        written AS (
            {vectorInsert}
            RETURNING stored.entity_type, stored.entity_id, stored.generation
        ), documents AS (
            INSERT INTO {Documents} AS lexical (entity_type, entity_id, document, generation)
            SELECT DISTINCT ON (d.entity_type, d.entity_id) d.entity_type, d.entity_id, {Document("d")}, w.generation
            FROM written w JOIN {documents} ON d.entity_type = w.entity_type AND d.entity_id = w.entity_id
            {Config("d")}
            WHERE d.body IS NOT NULL
            ORDER BY d.entity_type, d.entity_id, w.generation DESC
            {OnConflict}
        )
        SELECT count(*) FROM written
        """;

    /// <summary>Upserts documents alone: $1 entity types, $2 ids, $3 generations, $4 texts, $5 titles.</summary>
    public string Upsert => field ??= $"""
        INSERT INTO {Documents} AS lexical (entity_type, entity_id, document, generation)
        SELECT DISTINCT ON (d.entity_type, d.entity_id) d.entity_type, d.entity_id, {Document("d")}, d.generation
        FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[]) AS d(entity_type, entity_id, generation, body, title)
        {Config("d")}
        ORDER BY d.entity_type, d.entity_id, d.generation DESC
        {OnConflict}
        """;

    /// <summary>Deletes documents unless a newer generation wrote them: $1 entity types, $2 ids, $3 models (unused), $4
    /// generations (the parameters of the vector delete).</summary>
    public string Delete => field ??= $"""
        WITH locked AS MATERIALIZED (
            SELECT lexical.entity_type, lexical.entity_id FROM {Documents} AS lexical
            JOIN (SELECT entity_type, entity_id, max(generation) AS generation
                  FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) AS u(entity_type, entity_id, model, generation)
                  GROUP BY entity_type, entity_id) AS i
              ON lexical.entity_type = i.entity_type AND lexical.entity_id = i.entity_id
            WHERE lexical.generation <= i.generation
            ORDER BY lexical.entity_type, lexical.entity_id
            FOR UPDATE OF lexical
        )
        DELETE FROM {Documents} AS lexical USING locked l
        WHERE lexical.entity_type = l.entity_type AND lexical.entity_id = l.entity_id
        """;

    /// <summary>Whether an entity (<paramref name="entityType"/>, <paramref name="entityId"/>) has a document.</summary>
    public string Exists(string entityType, string entityId) =>
        $"EXISTS (SELECT 1 FROM {Documents} lexical WHERE lexical.entity_type = {entityType} AND lexical.entity_id = {entityId})";
}
