using System.Security.Cryptography;
using System.Text;
using EmbeddingKit.Postgres;
using EmbeddingKit.Runtime;
using Npgsql;
using NpgsqlTypes;

namespace EmbeddingKit.Cli.Infrastructure;

/// <summary>
/// The CLI's own documents table (the CLI is a reference host application): <c>embeddingkit_documents</c> in the schema,
/// created here, not by the library's migrations. It is also the CLI's <see cref="IDocumentBuilder"/>: a missing row is
/// <see cref="DocumentResult.Gone"/>.
/// </summary>
internal sealed class DocumentStore : IDocumentBuilder
{
    public const string TableName = "embeddingkit_documents";

    private readonly NpgsqlDataSource _dataSource;
    private readonly Sql _sql;

    public DocumentStore(NpgsqlDataSource dataSource, string schema)
    {
        _dataSource = dataSource;
        Schema = schema;
        QualifiedName = PostgresIdentifier.Qualify(schema, TableName);
        _sql = new Sql(schema, QualifiedName);
    }

    public string Schema { get; }

    public string QualifiedName { get; }

    public async Task EnsureTableAsync(CancellationToken cancellationToken)
    {
        await using var command = _dataSource.CreateCommand(_sql.EnsureTable);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>SHA-256 of the UTF-8 text: what decides whether a re-ingested document changed.</summary>
    public static byte[] Hash(string text) => SHA256.HashData(Encoding.UTF8.GetBytes(text));

    /// <summary>
    /// Inserts or updates documents on the caller's connection and transaction and returns the ids whose text is new or
    /// changed (metadata-only changes are written but need no new embedding). Ids must be distinct.
    /// </summary>
    public async Task<List<string>> UpsertAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string entityType, IReadOnlyList<SourceDocument> documents, CancellationToken cancellationToken)
    {
        await using (var create = new NpgsqlCommand(Sql.CreateStaging, connection, transaction))
        {
            await create.ExecuteNonQueryAsync(cancellationToken);
        }

        await using (var import = await connection.BeginBinaryImportAsync(Sql.CopyToStaging, cancellationToken))
        {
            foreach (var document in documents)
            {
                await import.StartRowAsync(cancellationToken);
                await import.WriteAsync(document.Id, NpgsqlDbType.Text, cancellationToken);
                await import.WriteAsync(document.Text, NpgsqlDbType.Text, cancellationToken);
                if (document.MetadataJson is null)
                {
                    await import.WriteNullAsync(cancellationToken);
                }
                else
                {
                    await import.WriteAsync(document.MetadataJson, NpgsqlDbType.Jsonb, cancellationToken);
                }

                await import.WriteAsync(Hash(document.Text), NpgsqlDbType.Bytea, cancellationToken);
            }

            await import.CompleteAsync(cancellationToken);
        }

        await using var upsert = new NpgsqlCommand(_sql.Upsert, connection, transaction);
        upsert.Parameters.Add(new NpgsqlParameter<string> { TypedValue = entityType });
        var changed = await ReadIdsAsync(upsert, 0, cancellationToken);
        await using (var clear = new NpgsqlCommand(Sql.ClearStaging, connection, transaction))
        {
            await clear.ExecuteNonQueryAsync(cancellationToken);
        }

        return changed;
    }

    /// <inheritdoc />
    public async ValueTask<IReadOnlyDictionary<string, DocumentResult>> BuildAsync(string entityType, IReadOnlyList<string> entityIds, CancellationToken cancellationToken = default)
    {
        var result = new Dictionary<string, DocumentResult>(entityIds.Count, StringComparer.Ordinal);
        await using (var command = _dataSource.CreateCommand(_sql.Build))
        {
            command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = entityType });
            command.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = [.. entityIds] });
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                result[reader.GetString(0)] = DocumentResult.Text(reader.GetString(1));
            }
        }

        foreach (var id in entityIds)
        {
            result.TryAdd(id, DocumentResult.Gone);
        }

        return result;
    }

    /// <summary>Reads the texts of some documents (for printing search hits).</summary>
    public async Task<Dictionary<string, string>> GetTextsAsync(string entityType, IReadOnlyList<string> ids, CancellationToken cancellationToken)
    {
        var built = await BuildAsync(entityType, ids, cancellationToken);
        return built.Where(p => !p.Value.IsGone).ToDictionary(p => p.Key, p => p.Value.Content!, StringComparer.Ordinal);
    }

    /// <summary>Counts documents by entity type.</summary>
    public async Task<Dictionary<string, long>> CountByEntityTypeAsync(CancellationToken cancellationToken)
    {
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        await using var command = _dataSource.CreateCommand(_sql.CountByEntityType);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            counts[reader.GetString(0)] = reader.GetInt64(1);
        }

        return counts;
    }

    /// <summary>Pages through the ids of an entity type (keyset), optionally only those without a stored vector of a model.</summary>
    public async Task<List<string>> ListIdsAsync(string entityType, string? after, int limit, (string Table, string Model)? missingIn, CancellationToken cancellationToken)
    {
        var missing = missingIn is { } m
            ? $"AND NOT EXISTS (SELECT 1 FROM {m.Table} e WHERE e.entity_type = d.entity_type AND e.entity_id = d.id AND e.model = $4)"
            : "";
        // Composed per call: the filter names the embedding table of the model asked for.
        await using var command = _dataSource.CreateCommand($"""
            SELECT d.id FROM {QualifiedName} d
            WHERE d.entity_type = $1 AND ($2::text IS NULL OR d.id COLLATE "C" > $2) {missing}
            ORDER BY d.id COLLATE "C" LIMIT $3
            """);
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = entityType });
        command.Parameters.Add(new NpgsqlParameter { Value = (object?)after ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text });
        command.Parameters.Add(new NpgsqlParameter<int> { TypedValue = limit });
        if (missingIn is { } model)
        {
            command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = model.Model });
        }

        return await ReadIdsAsync(command, limit, cancellationToken);
    }

    /// <summary>Deletes documents of an entity type on the caller's connection and transaction and returns the ids
    /// deleted.</summary>
    public async Task<List<string>> DeleteAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string entityType, string[] ids, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(_sql.Delete, connection, transaction);
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = entityType });
        command.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = ids });
        return await ReadIdsAsync(command, 0, cancellationToken);
    }

    /// <summary>Deletes the documents of an entity type whose id is not in the temporary table <paramref name="seenTable"/>
    /// on the caller's connection and transaction and returns the ids deleted.</summary>
    public async Task<List<string>> DeleteAbsentAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string entityType, string seenTable, CancellationToken cancellationToken)
    {
        // Composed per call: it names the caller's temporary table.
        await using var command = new NpgsqlCommand($"""
            DELETE FROM {QualifiedName} d
            WHERE d.entity_type = $1 AND NOT EXISTS (SELECT 1 FROM {PostgresIdentifier.Quote(seenTable)} s WHERE s.id = d.id)
            RETURNING d.id
            """, connection, transaction);
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = entityType });
        return await ReadIdsAsync(command, 0, cancellationToken);
    }

    private static async Task<List<string>> ReadIdsAsync(NpgsqlCommand command, int capacity, CancellationToken cancellationToken)
    {
        var ids = new List<string>(capacity);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            ids.Add(reader.GetString(0));
        }

        return ids;
    }

    /// <summary>The statements of the documents table, with its schema and name spliced in once (validated and quoted),
    /// and of the session's staging table.</summary>
    private sealed class Sql(string schema, string table)
    {
        private const string Staging = "embeddingkit_documents_staging";

        public const string CreateStaging =
            $"CREATE TEMP TABLE IF NOT EXISTS {Staging} (id text NOT NULL, text text NOT NULL, metadata jsonb, content_hash bytea NOT NULL) ON COMMIT DELETE ROWS";

        public const string CopyToStaging = $"COPY {Staging} (id, text, metadata, content_hash) FROM STDIN (FORMAT BINARY)";

        public const string ClearStaging = $"TRUNCATE {Staging}";

        public string EnsureTable => field ??= $"""
            CREATE SCHEMA IF NOT EXISTS {PostgresIdentifier.Quote(schema)};
            CREATE TABLE IF NOT EXISTS {table} (
                entity_type  text        NOT NULL,
                id           text        NOT NULL,
                text         text        NOT NULL,
                metadata     jsonb,
                content_hash bytea       NOT NULL,
                updated_at   timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (entity_type, id)
            )
            """;

        // Both CTEs see the snapshot from before the write, so "old" holds the previous hashes.
        public string Upsert => field ??= $"""
            WITH old AS (
                SELECT s.id, d.content_hash FROM {Staging} s
                LEFT JOIN {table} d ON d.entity_type = $1 AND d.id = s.id
            ),
            written AS (
                INSERT INTO {table} AS d (entity_type, id, text, metadata, content_hash)
                SELECT $1, id, text, metadata, content_hash FROM {Staging}
                ON CONFLICT (entity_type, id) DO UPDATE
                    SET text = excluded.text, metadata = excluded.metadata, content_hash = excluded.content_hash, updated_at = now()
                    WHERE d.content_hash <> excluded.content_hash OR d.metadata IS DISTINCT FROM excluded.metadata
                RETURNING d.id, d.content_hash
            )
            SELECT w.id FROM written w JOIN old o ON o.id = w.id
            WHERE o.content_hash IS DISTINCT FROM w.content_hash
            """;

        public string Build => field ??= $"SELECT id, text FROM {table} WHERE entity_type = $1 AND id = ANY($2)";

        public string CountByEntityType => field ??= $"SELECT entity_type, count(*) FROM {table} GROUP BY entity_type";

        public string Delete => field ??= $"DELETE FROM {table} WHERE entity_type = $1 AND id = ANY($2) RETURNING id";
    }
}
