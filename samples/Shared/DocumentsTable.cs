using EmbeddingKit.Runtime;
using Npgsql;

namespace EmbeddingKit.Samples;

/// <summary>
/// The host's own domain table of the worker, Hangfire and rollout samples: <c>{schema}.documents (id text, body text)</c>,
/// and the <see cref="IDocumentBuilder"/> that reads it. A real host reads its own tables the same way: one query per
/// batch, <see cref="DocumentResult.Gone"/> for ids that no longer exist.
/// </summary>
public sealed class DocumentsTable(NpgsqlDataSource dataSource, string schema) : IDocumentBuilder
{
    /// <summary>The entity type these documents are enqueued and searched as.</summary>
    public const string EntityType = "document";

    private string Table => $"\"{schema}\".documents";

    /// <summary>Creates the schema and the table if they are missing.</summary>
    public async Task EnsureCreatedAsync(CancellationToken cancellationToken = default)
    {
        await using var command = dataSource.CreateCommand($"""
            CREATE SCHEMA IF NOT EXISTS "{schema}";
            CREATE TABLE IF NOT EXISTS {Table} (id text PRIMARY KEY, body text NOT NULL);
            """);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>Inserts or updates a document inside the caller's transaction.</summary>
    public async Task UpsertAsync(string id, string body, NpgsqlConnection connection, NpgsqlTransaction transaction, CancellationToken cancellationToken = default)
    {
        await using var command = new NpgsqlCommand(
            $"INSERT INTO {Table} (id, body) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET body = excluded.body", connection, transaction);
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = id });
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = body });
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>Counts the documents (the total a rollout's coverage is measured against).</summary>
    public async Task<long> CountAsync(CancellationToken cancellationToken = default)
    {
        await using var command = dataSource.CreateCommand($"SELECT count(*) FROM {Table}");
        return (long)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    /// <summary>Streams every document id (for a backfill).</summary>
    public async IAsyncEnumerable<string> ListIdsAsync([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await using var command = dataSource.CreateCommand($"SELECT id FROM {Table} ORDER BY id");
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            yield return reader.GetString(0);
        }
    }

    /// <inheritdoc />
    public async ValueTask<IReadOnlyDictionary<string, DocumentResult>> BuildAsync(
        string entityType, IReadOnlyList<string> entityIds, CancellationToken cancellationToken = default)
    {
        var found = new Dictionary<string, DocumentResult>(entityIds.Count, StringComparer.Ordinal);
        await using var command = dataSource.CreateCommand($"SELECT id, body FROM {Table} WHERE id = ANY($1)");
        command.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = [.. entityIds] });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            found[reader.GetString(0)] = DocumentResult.Text(reader.GetString(1));
        }

        return entityIds.ToDictionary(id => id, id => found.GetValueOrDefault(id) ?? DocumentResult.Gone, StringComparer.Ordinal);
    }
}
