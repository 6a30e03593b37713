using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using NpgsqlTypes;
using Polly;
using Polly.Retry;

namespace EmbeddingKit.Postgres.Storage;

/// <summary>
/// Creates embedding tables and builds, checks, repairs and drops their per-model indexes. Nothing here runs by itself:
/// a host calls it from a migration step or a command (index builds take minutes on large tables), never at every
/// start-up.
/// </summary>
/// <remarks>
/// Indexes are built with <c>CREATE INDEX CONCURRENTLY</c>, so writes go on during the build. A concurrent build that
/// fails (cancelled, out of memory, a lost connection) leaves an INVALID index behind that PostgreSQL maintains but never
/// uses, and that <c>IF NOT EXISTS</c> would keep forever; <see cref="EnsureModelIndexesAsync"/> finds it
/// (<c>pg_index.indisvalid = false</c>, no build in progress), drops it concurrently and builds it again. Builds of one
/// table are serialized with a session advisory lock so that two hosts never drop each other's build in progress.
/// </remarks>
public sealed partial class EmbeddingIndexManager
{
    private readonly NpgsqlDataSource _dataSource;
    private readonly ILogger _logger;
    private readonly ResiliencePipeline<bool> _lockWait;

    /// <summary>Creates the manager.</summary>
    /// <param name="dataSource">The database; built with <c>UseVector()</c> when it also serves storage and search.</param>
    public EmbeddingIndexManager(NpgsqlDataSource dataSource)
        : this(dataSource, null)
    {
    }

    /// <summary>Creates the manager with a logger for what it decides on its own (for example building without parallel
    /// workers on a pgvector version whose parallel HNSW builds are unsafe).</summary>
    /// <param name="dataSource">The database; built with <c>UseVector()</c> when it also serves storage and search.</param>
    /// <param name="logger">The logger, or null for none.</param>
    public EmbeddingIndexManager(NpgsqlDataSource dataSource, ILogger<EmbeddingIndexManager>? logger)
        : this(dataSource, logger, null)
    {
    }

    /// <summary>Creates the manager with a logger and a clock.</summary>
    /// <param name="dataSource">The database; built with <c>UseVector()</c> when it also serves storage and search.</param>
    /// <param name="logger">The logger, or null for none.</param>
    /// <param name="timeProvider">The clock of the waits between tries of the index lock (50 ms doubling to 1 s), or null
    /// for <see cref="TimeProvider.System"/>.</param>
    public EmbeddingIndexManager(NpgsqlDataSource dataSource, ILogger<EmbeddingIndexManager>? logger, TimeProvider? timeProvider)
    {
        ArgumentNullException.ThrowIfNull(dataSource);
        _dataSource = dataSource;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _lockWait = new ResiliencePipelineBuilder<bool> { TimeProvider = timeProvider ?? TimeProvider.System }
            .AddRetry(new RetryStrategyOptions<bool>
            {
                ShouldHandle = static args => ValueTask.FromResult(args.Outcome is { Exception: null, Result: false }),
                MaxRetryAttempts = int.MaxValue,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = false,
                Delay = TimeSpan.FromMilliseconds(50),
                MaxDelay = TimeSpan.FromSeconds(1),
            })
            .Build();
    }

    /// <summary>Creates the <c>vector</c> extension (when missing), the schema (when missing) and the table
    /// (<c>CREATE TABLE IF NOT EXISTS</c>). Safe to repeat.</summary>
    /// <returns>True when the <c>vector</c> extension had to be created: a data source that was built before it
    /// existed must then reload its types (<see cref="NpgsqlConnection.ReloadTypesAsync(CancellationToken)"/>).</returns>
    public async ValueTask<bool> EnsureTableAsync(EmbeddingTable table, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(table);
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        bool created;
        await using (var check = new NpgsqlCommand(Sql.VectorMissing, connection))
        {
            created = (bool)(await check.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
        }

        if (created)
        {
            try
            {
                await ExecuteAsync(connection, EmbeddingTable.CreateExtensionSql, cancellationToken).ConfigureAwait(false);
            }
            catch (PostgresException e) when (e.SqlState is PostgresErrorCodes.UniqueViolation or PostgresErrorCodes.DuplicateObject)
            {
                created = false; // another process created it at the same moment
            }

            await connection.ReloadTypesAsync(cancellationToken).ConfigureAwait(false);
        }

        // Composed per call: the schema is the table's, and the table is given per call.
        await ExecuteAsync(connection, $"CREATE SCHEMA IF NOT EXISTS {PostgresIdentifier.Quote(table.Schema)}", cancellationToken).ConfigureAwait(false);
        await ExecuteAsync(connection, table.CreateTableSql(), cancellationToken).ConfigureAwait(false);
        await UpgradeToChunkKeyAsync(connection, table, cancellationToken).ConfigureAwait(false);
        return created;
    }

    /// <summary>Moves a table created before the chunk key to it (see <see cref="EmbeddingTable.UpgradeToChunkKeySql"/>),
    /// once, under the table's lock.</summary>
    private async Task UpgradeToChunkKeyAsync(NpgsqlConnection connection, EmbeddingTable table, CancellationToken cancellationToken)
    {
        if (!await NeedsChunkKeyAsync(connection, table, cancellationToken).ConfigureAwait(false))
        {
            return;
        }

        await AcquireLockAsync(connection, table, cancellationToken).ConfigureAwait(false);
        try
        {
            if (await NeedsChunkKeyAsync(connection, table, cancellationToken).ConfigureAwait(false))
            {
                foreach (var statement in table.UpgradeToChunkKeySql())
                {
                    await ExecuteAsync(connection, statement, cancellationToken).ConfigureAwait(false);
                }
            }
        }
        finally
        {
            await ReleaseLockAsync(connection, table).ConfigureAwait(false);
        }
    }

    private static async Task<bool> NeedsChunkKeyAsync(NpgsqlConnection connection, EmbeddingTable table, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(table.NeedsChunkKeySql(), connection);
        return await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) is true;
    }

    /// <summary>
    /// Builds the model's HNSW index and binary-quantized index when missing (<c>CREATE INDEX CONCURRENTLY IF NOT
    /// EXISTS</c>, outside any transaction); an INVALID index left by a failed build is dropped and built again.
    /// </summary>
    /// <returns>The status of both indexes afterwards.</returns>
    public async ValueTask<IReadOnlyList<EmbeddingIndexStatus>> EnsureModelIndexesAsync(EmbeddingTable table, string model, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(table);
        ArgumentException.ThrowIfNullOrEmpty(model);
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await AcquireLockAsync(connection, table, cancellationToken).ConfigureAwait(false);
        try
        {
            var before = await ReadStatusAsync(connection, table, model, cancellationToken).ConfigureAwait(false);
            foreach (var (status, inProgress) in before)
            {
                if (status.Exists && !status.IsValid && !inProgress)
                {
                    await ExecuteAsync(connection, table.DropIndexSql(status.Name), cancellationToken).ConfigureAwait(false);
                }
            }

            // pgvector below 0.8.2 can overflow a buffer in a parallel HNSW build (CVE-2026-3172): build with the leader only.
            var pgvector = await PgvectorVersion.ReadAsync(connection, cancellationToken).ConfigureAwait(false);
            var serial = !pgvector.AllowsParallelHnswBuild;
            if (serial)
            {
                LogSerialBuild(_logger, pgvector.ToString(), PgvectorVersion.ParallelHnswBuildFixed.ToString(), model);
                await ExecuteAsync(connection, Sql.SerialBuild, cancellationToken).ConfigureAwait(false);
            }

            try
            {
                await ExecuteAsync(connection, table.CreateHnswIndexSql(model), cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                if (serial && connection.State == System.Data.ConnectionState.Open)
                {
                    await ExecuteAsync(connection, Sql.ResetSerialBuild, CancellationToken.None).ConfigureAwait(false);
                }
            }

            await ExecuteAsync(connection, table.CreateBinaryQuantizedIndexSql(model), cancellationToken).ConfigureAwait(false);
            return [.. (await ReadStatusAsync(connection, table, model, cancellationToken).ConfigureAwait(false)).Select(s => s.Status)];
        }
        finally
        {
            await ReleaseLockAsync(connection, table).ConfigureAwait(false);
        }
    }

    /// <summary>Reports the indexes of the table: for one model, its HNSW and binary-quantized indexes (whether they
    /// exist or not); for <paramref name="model"/> null, every index of the table.</summary>
    public async ValueTask<IReadOnlyList<EmbeddingIndexStatus>> GetIndexStatusAsync(EmbeddingTable table, string? model = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(table);
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        if (model is not null)
        {
            return [.. (await ReadStatusAsync(connection, table, model, cancellationToken).ConfigureAwait(false)).Select(s => s.Status)];
        }

        await using var command = new NpgsqlCommand(Sql.TableIndexes, connection);
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = table.QualifiedName });
        var indexes = new List<EmbeddingIndexStatus>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            var definition = reader.GetString(3);
            var kind = definition.Contains("bit_hamming_ops", StringComparison.Ordinal) ? EmbeddingIndexKind.BinaryQuantized
                : definition.Contains("USING hnsw", StringComparison.Ordinal) ? EmbeddingIndexKind.Hnsw
                : EmbeddingIndexKind.Other;
            indexes.Add(new EmbeddingIndexStatus(reader.GetString(0), kind, null, true, reader.GetBoolean(1), reader.GetInt64(2)));
        }

        return indexes;
    }

    /// <summary>Drops the model's HNSW and binary-quantized indexes (<c>DROP INDEX CONCURRENTLY IF EXISTS</c>), for
    /// retiring a model. Its rows stay; delete them with <see cref="PgvectorEmbeddingStorage.DeleteModelAsync"/>.</summary>
    public async ValueTask DropModelIndexesAsync(EmbeddingTable table, string model, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(table);
        ArgumentException.ThrowIfNullOrEmpty(model);
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await AcquireLockAsync(connection, table, cancellationToken).ConfigureAwait(false);
        try
        {
            await ExecuteAsync(connection, table.DropIndexSql(table.HnswIndexName(model)), cancellationToken).ConfigureAwait(false);
            await ExecuteAsync(connection, table.DropIndexSql(table.BinaryQuantizedIndexName(model)), cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            await ReleaseLockAsync(connection, table).ConfigureAwait(false);
        }
    }

    private static async Task<List<(EmbeddingIndexStatus Status, bool InProgress)>> ReadStatusAsync(
        NpgsqlConnection connection, EmbeddingTable table, string model, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(model);
        var names = new[] { table.HnswIndexName(model), table.BinaryQuantizedIndexName(model) };
        var kinds = new[] { EmbeddingIndexKind.Hnsw, EmbeddingIndexKind.BinaryQuantized };
        await using var command = new NpgsqlCommand(Sql.Status, connection);
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = table.Schema });
        command.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = names, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text });
        var result = new List<(EmbeddingIndexStatus, bool)>(2);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        for (var i = 0; await reader.ReadAsync(cancellationToken).ConfigureAwait(false); i++)
        {
            result.Add((new EmbeddingIndexStatus(reader.GetString(0), kinds[i], model, reader.GetBoolean(1), reader.GetBoolean(2), reader.GetInt64(3)), reader.GetBoolean(4)));
        }

        return result;
    }

    // Polls pg_try_advisory_lock instead of waiting in pg_advisory_lock: the holder's CREATE INDEX CONCURRENTLY waits for
    // every open transaction, including a statement blocked in pg_advisory_lock, so several processes ensuring indexes
    // at once deadlocked (40P01). Between tries no transaction is open, so the index build never waits for us.
    private async Task AcquireLockAsync(NpgsqlConnection connection, EmbeddingTable table, CancellationToken cancellationToken) =>
        await _lockWait.ExecuteAsync(
            static async (state, token) => await LockAsync(state.connection, state.table, Sql.TryLock, token).ConfigureAwait(false),
            (connection, table),
            cancellationToken).ConfigureAwait(false);

    /// <summary>Releases the session's build lock; nothing to do on a connection that was lost (its session, and the lock
    /// with it, ended on the server), so the error that lost it is the one the caller sees.</summary>
    private static async Task ReleaseLockAsync(NpgsqlConnection connection, EmbeddingTable table)
    {
        if (connection.State == System.Data.ConnectionState.Open)
        {
            await LockAsync(connection, table, Sql.Unlock, CancellationToken.None).ConfigureAwait(false);
        }
    }

    private static async Task<bool> LockAsync(NpgsqlConnection connection, EmbeddingTable table, string sql, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = "embeddingkit_index:" + table.QualifiedName });
        return await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) is true;
    }

    // No command timeout: an index build takes as long as it takes; the caller cancels through the token.
    private static async Task ExecuteAsync(NpgsqlConnection connection, string sql, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection) { CommandTimeout = 0 };
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    [LoggerMessage(EventId = 3103, Level = LogLevel.Warning, Message = "pgvector {Version} has CVE-2026-3172 in parallel HNSW builds (fixed in {Fixed}): building the HNSW index of model {Model} without parallel workers")]
    private static partial void LogSerialBuild(ILogger logger, string version, string @fixed, string model);

    /// <summary>The manager's statements, constant text (the tables are given per call; their own SQL is
    /// <see cref="EmbeddingTable"/>'s).</summary>
    private static class Sql
    {
        public const string VectorMissing = "SELECT NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'vector')";

        public const string Status = """
            SELECT n.name, c.oid IS NOT NULL, coalesce(i.indisvalid, false), coalesce(pg_relation_size(c.oid), 0),
                   EXISTS (SELECT 1 FROM pg_stat_progress_create_index p WHERE p.index_relid = c.oid)
            FROM unnest($2::text[]) WITH ORDINALITY AS n(name, ord)
            LEFT JOIN pg_namespace s ON s.nspname = $1
            LEFT JOIN pg_class c ON c.relname = n.name AND c.relnamespace = s.oid AND c.relkind = 'i'
            LEFT JOIN pg_index i ON i.indexrelid = c.oid
            ORDER BY n.ord
            """;

        public const string TableIndexes = """
            SELECT c.relname, i.indisvalid, pg_relation_size(c.oid), pg_get_indexdef(c.oid)
            FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
            WHERE i.indrelid = to_regclass($1)
            ORDER BY c.relname
            """;

        public const string SerialBuild = "SET max_parallel_maintenance_workers = 0";

        public const string ResetSerialBuild = "RESET max_parallel_maintenance_workers";

        // The build lock of a table, keyed by hashtextextended of "embeddingkit_index:" + its qualified name ($1).
        public const string TryLock = "SELECT pg_try_advisory_lock(hashtextextended($1, 0))";

        public const string Unlock = "SELECT pg_advisory_unlock(hashtextextended($1, 0))";
    }
}
