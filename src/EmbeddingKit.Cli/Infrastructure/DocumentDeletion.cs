using EmbeddingKit.Tasks;
using Npgsql;

namespace EmbeddingKit.Cli.Infrastructure;

/// <summary>
/// Deleting documents the way a host should: the document rows go, and in the same transaction a task is enqueued for
/// every model that has (or is about to have) a vector of them. The worker finds each document gone and deletes its
/// vector; the new generation also refuses the write of a worker still holding an older task of it (frozen past its
/// lease), so a deleted document is never found again.
/// </summary>
internal static class DocumentDeletion
{
    /// <summary>What a deletion did.</summary>
    /// <param name="Deleted">Ids whose document was deleted.</param>
    /// <param name="Unknown">Ids asked for that had no document.</param>
    /// <param name="Enqueued">Deletion tasks enqueued (one per id and model).</param>
    /// <param name="Models">The models tasks were enqueued for.</param>
    public sealed record Result(IReadOnlyList<string> Deleted, IReadOnlyList<string> Unknown, int Enqueued, IReadOnlyList<string> Models);

    /// <summary>Deletes the documents <paramref name="ids"/> of an entity type and enqueues the deletion of their vectors.</summary>
    public static async Task<Result> DeleteAsync(CliHost host, NpgsqlConnection connection, NpgsqlTransaction transaction, string entityType, IReadOnlyList<string> ids, CancellationToken cancellationToken)
    {
        var distinct = ids.Distinct(StringComparer.Ordinal).ToArray();
        var deleted = await host.Documents.DeleteAsync(connection, transaction, entityType, distinct, cancellationToken);
        var gone = deleted.ToHashSet(StringComparer.Ordinal);
        var unknown = distinct.Where(id => !gone.Contains(id)).ToList();
        var (enqueued, models) = await EnqueueAsync(host, connection, transaction, entityType, distinct, deleted, cancellationToken);
        return new Result(deleted, unknown, enqueued, models);
    }

    /// <summary>Deletes the documents of an entity type whose id is not in the temporary table <paramref name="seenTable"/>
    /// (an ingest's <c>--sync</c>), and enqueues the deletion of their vectors.</summary>
    public static async Task<Result> DeleteAbsentAsync(CliHost host, NpgsqlConnection connection, NpgsqlTransaction transaction, string entityType, string seenTable, CancellationToken cancellationToken)
    {
        var deleted = await host.Documents.DeleteAbsentAsync(connection, transaction, entityType, seenTable, cancellationToken);
        var (enqueued, models) = await EnqueueAsync(host, connection, transaction, entityType, deleted, deleted, cancellationToken);
        return new Result(deleted, [], enqueued, models);
    }

    /// <summary>Enqueues a task for each (id, model) with a stored vector, an outstanding task or a dead task, and for the
    /// configured model of every deleted id.</summary>
    private static async Task<(int Enqueued, IReadOnlyList<string> Models)> EnqueueAsync(
        CliHost host, NpgsqlConnection connection, NpgsqlTransaction transaction, string entityType, IReadOnlyList<string> ids, IReadOnlyList<string> deleted, CancellationToken cancellationToken)
    {
        if (ids.Count == 0)
        {
            return (0, []);
        }

        // Outstanding and dead tasks through the queue's administration; stored vectors from the embedding tables.
        var pairs = new HashSet<(string Id, string Model)>();
        foreach (var key in await host.QueueAdmin.ListTaskKeysAsync(entityType, ids, connection, transaction, cancellationToken))
        {
            pairs.Add((key.EntityId, key.Model));
        }

        var tables = (await StoredVectors.ListTablesAsync(connection, transaction, host.Schema, cancellationToken)).Select(t => t.Qualified).ToList();
        if (tables.Count > 0)
        {
            // Composed per call: a union over the embedding tables the schema holds now.
            var union = string.Join("\nUNION\n", tables.Select(t => $"SELECT entity_id, model FROM {t} WHERE entity_type = $1 AND entity_id = ANY($2)"));
            await using var command = new NpgsqlCommand(union, connection, transaction);
            command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = entityType });
            command.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = [.. ids] });
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                pairs.Add((reader.GetString(0), reader.GetString(1)));
            }
        }

        if ((host.Setup?.Model.Name ?? host.Settings.Model) is { } configured)
        {
            pairs.UnionWith(deleted.Select(id => (id, configured)));
        }

        var requests = pairs.Select(p => new EnqueueRequest(entityType, p.Id, p.Model)).ToList();
        var enqueued = await host.Queue.EnqueueAsync(requests, connection, transaction, cancellationToken);
        return (enqueued, [.. pairs.Select(p => p.Model).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)]);
    }
}
