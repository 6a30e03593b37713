using EmbeddingKit.Postgres.Storage;
using Npgsql;
using Polly;
using Polly.Retry;

namespace EmbeddingKit.Cli.Infrastructure;

/// <summary>
/// Builds a model's indexes when missing, one CLI process at a time. <see cref="EmbeddingIndexManager"/> serializes
/// builds with a blocking <c>pg_advisory_lock</c>, and a session blocked there holds a snapshot that the holder's
/// <c>CREATE INDEX CONCURRENTLY</c> waits for: two <c>work --until-idle</c> processes finishing together deadlock. So the
/// CLI first takes its own lock by polling <c>pg_try_advisory_lock</c> (no statement waits, no snapshot is held).
/// </summary>
internal static class ModelIndexes
{
    public static async Task<IReadOnlyList<EmbeddingIndexStatus>> EnsureAsync(
        NpgsqlDataSource dataSource, EmbeddingTable table, string model, TimeProvider timeProvider, CancellationToken cancellationToken)
    {
        var manager = new EmbeddingIndexManager(dataSource, null, timeProvider);
        var status = await manager.GetIndexStatusAsync(table, model, cancellationToken);
        if (status.All(s => s.Exists && s.IsValid))
        {
            return status;
        }

        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var key = Key(table.QualifiedName);
        var lockWait = new ResiliencePipelineBuilder<bool> { TimeProvider = timeProvider }
            .AddRetry(new RetryStrategyOptions<bool>
            {
                // Another CLI process builds: look again every 250 ms until it is done.
                ShouldHandle = static args => ValueTask.FromResult(args.Outcome is { Exception: null, Result: false }),
                MaxRetryAttempts = int.MaxValue,
                BackoffType = DelayBackoffType.Constant,
                UseJitter = false,
                Delay = TimeSpan.FromMilliseconds(250),
            })
            .Build();
        await lockWait.ExecuteAsync(static (state, token) => new ValueTask<bool>(TryLockAsync(state.connection, state.key, token)), (connection, key), cancellationToken);

        try
        {
            return await manager.EnsureModelIndexesAsync(table, model, cancellationToken);
        }
        finally
        {
            await EmbeddingKit.Postgres.PostgresSessionLock.ReleaseAsync(connection, key);
        }
    }

    private static async Task<bool> TryLockAsync(NpgsqlConnection connection, long key, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(Sql.TryLock, connection);
        command.Parameters.Add(new NpgsqlParameter<long> { TypedValue = key });
        return (bool)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    /// <summary>The key of "embeddingkit-cli:indexes:" + the table: stable across processes and versions (table names are
    /// ASCII identifiers, so the UTF-8 hash equals the UTF-16 one this used before).</summary>
    private static long Key(string table) => EmbeddingKit.Postgres.PostgresKeyHash.Compute("embeddingkit-cli:indexes:" + table);

    /// <summary>The CLI's index lock (constant text; the key is a parameter).</summary>
    private static class Sql
    {
        public const string TryLock = "SELECT pg_try_advisory_lock($1)";
    }
}
