using EmbeddingKit.Tasks;
using Npgsql;
using NpgsqlTypes;

namespace EmbeddingKit.Postgres.Tasks;

/// <summary>
/// The administration of the PostgreSQL task queue, apart from the worker protocol (<see cref="PostgresEmbeddingTaskQueue"/>):
/// dead tasks (list, requeue, prune), cancelling and retiring tasks, model pauses, statistics and "pending work" checks.
/// Operators, status pages, the rollout and the CLI use it; workers never need it.
/// </summary>
/// <remarks>All times come from the database clock. Thread-safe; share one instance per schema.</remarks>
public sealed class PostgresEmbeddingQueueAdmin : IEmbeddingQueueStatistics
{
    private readonly NpgsqlDataSource _dataSource;
    private readonly PostgresTaskQueueOptions _options;
    private readonly string _channel;
    private readonly Sql _sql;
    private readonly TaskTables _tables;

    /// <summary>Creates the administration of the queue in <paramref name="schema"/>, which must have been migrated.</summary>
    /// <param name="dataSource">The database.</param>
    /// <param name="schema">The host's schema (a plain identifier).</param>
    /// <param name="options">The queue's options (for the error length limit); defaults when null.</param>
    public PostgresEmbeddingQueueAdmin(NpgsqlDataSource dataSource, string schema, PostgresTaskQueueOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(dataSource);
        _dataSource = dataSource;
        Schema = PostgresIdentifier.Validate(schema, nameof(schema));
        _options = options ?? new PostgresTaskQueueOptions();
        _options.Validate();
        _channel = PostgresEmbeddingTaskQueue.ChannelFor(schema);
        _tables = new TaskTables(schema);
        _sql = new Sql(_tables);
    }

    /// <summary>Gets the schema the queue lives in.</summary>
    public string Schema { get; }

    /// <summary>Deletes outstanding tasks by key (whether or not a worker holds them; its complete is then refused).</summary>
    /// <returns>The number of tasks deleted.</returns>
    public async ValueTask<int> CancelAsync(IReadOnlyList<EmbeddingTaskKey> keys, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(keys);
        if (keys.Count == 0)
        {
            return 0;
        }

        await using var command = _dataSource.CreateCommand(_sql.Cancel);
        command.Parameters.Add(Text([.. keys.Select(k => k.EntityType)]));
        command.Parameters.Add(Text([.. keys.Select(k => k.EntityId)]));
        command.Parameters.Add(Text([.. keys.Select(k => k.Model)]));
        return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Moves dead tasks back into the queue, ready now, with their attempts reset.</summary>
    /// <param name="model">Only this model's dead tasks, or all when null.</param>
    /// <param name="entityType">Only this entity type's dead tasks, or all when null.</param>
    /// <param name="cancellationToken">Cancels the operation.</param>
    /// <returns>The number of tasks requeued.</returns>
    public async ValueTask<int> RequeueDeadAsync(string? model = null, string? entityType = null, CancellationToken cancellationToken = default)
    {
        await using var command = _dataSource.CreateCommand(_sql.RequeueDead);
        command.Parameters.Add(new NpgsqlParameter<string?> { TypedValue = model, NpgsqlDbType = NpgsqlDbType.Text });
        command.Parameters.Add(new NpgsqlParameter<string?> { TypedValue = entityType, NpgsqlDbType = NpgsqlDbType.Text });
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = _channel });
        var result = await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
        return Convert.ToInt32(result, System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>Deletes dead tasks that died before <paramref name="olderThan"/> ago (by the database clock).</summary>
    /// <returns>The number of dead tasks deleted.</returns>
    public async ValueTask<int> PruneDeadAsync(TimeSpan olderThan, string? model = null, CancellationToken cancellationToken = default)
    {
        await using var command = _dataSource.CreateCommand(_sql.PruneDead);
        command.Parameters.Add(new NpgsqlParameter<double> { TypedValue = olderThan.TotalSeconds });
        command.Parameters.Add(new NpgsqlParameter<string?> { TypedValue = model, NpgsqlDbType = NpgsqlDbType.Text });
        return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Deletes every outstanding and dead task of a model (retiring it). Only ever called on request.</summary>
    /// <returns>The number of tasks deleted.</returns>
    public async ValueTask<int> DeleteModelTasksAsync(string model, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(model);
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        return await DeleteModelTasksInTransactionAsync(model, connection, null, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Deletes every outstanding and dead task of a model on the caller's connection (and transaction, for an
    /// atomic retire).</summary>
    internal async ValueTask<int> DeleteModelTasksInTransactionAsync(string model, NpgsqlConnection connection, NpgsqlTransaction? transaction, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(_sql.DeleteModel, connection, transaction);
        command.CommandTimeout = 0;
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = model });
        var result = await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
        return Convert.ToInt32(result, System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>Lists dead tasks, newest first.</summary>
    public async ValueTask<IReadOnlyList<DeadTask>> ListDeadAsync(int limit = 100, string? model = null, string? entityType = null, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        await using var command = _dataSource.CreateCommand(_sql.ListDead);
        command.Parameters.Add(new NpgsqlParameter<string?> { TypedValue = model, NpgsqlDbType = NpgsqlDbType.Text });
        command.Parameters.Add(new NpgsqlParameter<string?> { TypedValue = entityType, NpgsqlDbType = NpgsqlDbType.Text });
        command.Parameters.Add(new NpgsqlParameter<int> { TypedValue = limit });
        var dead = new List<DeadTask>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            dead.Add(new DeadTask
            {
                Key = new EmbeddingTaskKey(reader.GetString(0), reader.GetString(1), reader.GetString(2)),
                Kind = (EmbeddingTaskKind)reader.GetInt16(3),
                Generation = reader.GetInt64(4),
                Attempts = reader.GetInt32(5),
                Deferrals = reader.GetInt32(6),
                Error = reader.GetString(7),
                DiedAt = reader.GetFieldValue<DateTimeOffset>(8),
            });
        }

        return dead;
    }

    /// <summary>Outstanding work by entity type and model and state, the oldest age, dead counts and model pauses,
    /// in one round trip.</summary>
    public async ValueTask<IReadOnlyList<QueueStats>> GetStatsAsync(CancellationToken cancellationToken = default)
    {
        await using var command = _dataSource.CreateCommand(_sql.Stats);
        var stats = new List<QueueStats>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            stats.Add(new QueueStats
            {
                EntityType = reader.GetString(0),
                Model = reader.GetString(1),
                Ready = reader.GetInt64(2),
                Scheduled = reader.GetInt64(3),
                Running = reader.GetInt64(4),
                LeaseExpired = reader.GetInt64(5),
                Dead = reader.GetInt64(6),
                OldestAge = reader.IsDBNull(7) ? null : TimeSpan.FromSeconds(reader.GetDouble(7)),
                PausedUntil = reader.IsDBNull(8) ? null : reader.GetFieldValue<DateTimeOffset>(8),
                PauseReason = reader.IsDBNull(9) ? null : reader.GetString(9),
            });
        }

        return stats;
    }

    /// <summary>Counts outstanding (not dead) tasks of the given models, including those held by workers.</summary>
    public async ValueTask<long> CountOutstandingAsync(IReadOnlyCollection<string> models, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(models);
        await using var command = _dataSource.CreateCommand(_sql.CountOutstanding);
        command.Parameters.Add(Text([.. models]));
        return (long)(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
    }

    /// <summary>Whether the model still has outstanding or dead tasks for the entity type (its coverage is incomplete).</summary>
    public async ValueTask<bool> HasPendingWorkAsync(string entityType, string model, CancellationToken cancellationToken = default)
    {
        await using var command = _dataSource.CreateCommand(_sql.HasPendingWork);
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = entityType });
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = model });
        return (bool)(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
    }

    /// <summary>
    /// The keys of the outstanding and dead tasks of some entities, on the caller's connection and transaction (a host
    /// deleting documents enqueues a deletion for every model that has, or is about to have, a vector of them).
    /// </summary>
    /// <returns>Distinct keys, in no particular order.</returns>
    public async ValueTask<IReadOnlyList<EmbeddingTaskKey>> ListTaskKeysAsync(
        string entityType, IReadOnlyCollection<string> entityIds, NpgsqlConnection connection, NpgsqlTransaction? transaction, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(entityType);
        ArgumentNullException.ThrowIfNull(entityIds);
        ArgumentNullException.ThrowIfNull(connection);
        if (entityIds.Count == 0)
        {
            return [];
        }

        await using var command = new NpgsqlCommand(_sql.TaskKeys, connection, transaction);
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = entityType });
        command.Parameters.Add(Text([.. entityIds]));
        var keys = new List<EmbeddingTaskKey>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            keys.Add(new EmbeddingTaskKey(entityType, reader.GetString(0), reader.GetString(1)));
        }

        return keys;
    }

    /// <summary>
    /// A query listing the entity ids of an entity type ($1) that have an outstanding or dead task of a model ($2), for a
    /// caller that composes it into its own statement (the search's fallback: one round trip for its coverage check).
    /// </summary>
    internal string PendingEntityIdsQuery => _sql.PendingEntityIds;

    /// <summary>
    /// A boolean SQL condition, true when a model has an outstanding or dead task of an entity type, for a caller that
    /// composes it into its own statement (the search state: one round trip). The arguments are SQL expressions (a
    /// parameter or a column), never values.
    /// </summary>
    internal string PendingWorkCondition(string entityTypeSql, string modelSql) =>
        $"EXISTS (SELECT 1 FROM {_tables.Tasks} t WHERE t.model = {modelSql} AND t.entity_type = {entityTypeSql}) " +
        $"OR EXISTS (SELECT 1 FROM {_tables.Dead} d WHERE d.entity_type = {entityTypeSql} AND d.model = {modelSql})";

    /// <summary>Pauses a model for every worker until <paramref name="duration"/> from now (database clock).</summary>
    public async ValueTask PauseModelAsync(string model, TimeSpan duration, string reason, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(model);
        await using var command = _dataSource.CreateCommand(_sql.Pause);
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = model });
        command.Parameters.Add(new NpgsqlParameter<double> { TypedValue = duration.TotalSeconds });
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = Truncate(reason ?? string.Empty) });
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Lifts a model's pause at once.</summary>
    /// <returns>Whether the model was paused.</returns>
    public async ValueTask<bool> ResumeModelAsync(string model, CancellationToken cancellationToken = default)
    {
        await using var command = _dataSource.CreateCommand(_sql.Resume);
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = model });
        return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) > 0;
    }

    private string Truncate(string error) => error.Length <= _options.MaxErrorLength ? error : error[.._options.MaxErrorLength] + "…";

    private static NpgsqlParameter<string[]> Text(string[] values) => new() { TypedValue = values, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text };

    /// <summary>The statements, with the schema spliced in once (validated and quoted).</summary>
    private sealed class Sql(TaskTables tables)
    {
        private readonly string _tasks = tables.Tasks;
        private readonly string _dead = tables.Dead;
        private readonly string _pauses = tables.Pauses;

        // Locks in key order, the lock order of the whole queue (see PostgresEmbeddingTaskQueue's Enqueue).
        public string Cancel => field ??= $"""
            WITH locked AS MATERIALIZED (
                SELECT t.id FROM {_tasks} t
                JOIN unnest($1::text[], $2::text[], $3::text[]) AS i(entity_type, entity_id, model)
                  ON t.entity_type = i.entity_type AND t.entity_id = i.entity_id AND t.model = i.model
                ORDER BY t.entity_type, t.entity_id, t.model
                FOR UPDATE OF t
            )
            DELETE FROM {_tasks} t USING locked l WHERE t.id = l.id
            """;

        public string RequeueDead => field ??= $"""
            WITH moved AS (
                DELETE FROM {_dead} d
                WHERE ($1::text IS NULL OR d.model = $1) AND ($2::text IS NULL OR d.entity_type = $2)
                RETURNING d.entity_type, d.entity_id, d.model, d.kind, d.priority, d.first_enqueued_at
            ),
            written AS (
                INSERT INTO {_tasks} AS t (entity_type, entity_id, model, kind, priority, first_enqueued_at)
                SELECT entity_type, entity_id, model, kind, priority, first_enqueued_at
                FROM moved ORDER BY entity_type, entity_id, model
                ON CONFLICT (entity_type, entity_id, model) DO UPDATE SET generation = excluded.generation, enqueued_at = now()
                RETURNING 1
            )
            SELECT count(*), pg_notify($3, '') FROM written
            """;

        public string PruneDead => field ??= $"""
            DELETE FROM {_dead} WHERE died_at < now() - make_interval(secs => $1) AND ($2::text IS NULL OR model = $2)
            """;

        public string DeleteModel => field ??= $"""
            WITH locked AS MATERIALIZED (
                SELECT id FROM {_tasks} WHERE model = $1 ORDER BY entity_type, entity_id, model FOR UPDATE
            ),
                 a AS (DELETE FROM {_tasks} t USING locked l WHERE t.id = l.id RETURNING 1),
                 b AS (DELETE FROM {_dead} WHERE model = $1 RETURNING 1)
            SELECT (SELECT count(*) FROM a) + (SELECT count(*) FROM b)
            """;

        public string ListDead => field ??= $"""
            SELECT entity_type, entity_id, model, kind, generation, attempts, deferrals, error, died_at
            FROM {_dead}
            WHERE ($1::text IS NULL OR model = $1) AND ($2::text IS NULL OR entity_type = $2)
            ORDER BY died_at DESC
            LIMIT $3
            """;

        public string Stats => field ??= $"""
            WITH outstanding AS (
                SELECT entity_type, model,
                       count(*) FILTER (WHERE lease_token IS NULL AND run_at <= now())     AS ready,
                       count(*) FILTER (WHERE lease_token IS NULL AND run_at > now())      AS scheduled,
                       count(*) FILTER (WHERE lease_token IS NOT NULL AND run_at > now())  AS running,
                       count(*) FILTER (WHERE lease_token IS NOT NULL AND run_at <= now()) AS lease_expired,
                       extract(epoch FROM now() - min(first_enqueued_at))::float8          AS oldest_s
                FROM {_tasks} GROUP BY entity_type, model
            ),
            dead AS (
                SELECT entity_type, model, count(*) AS dead FROM {_dead} GROUP BY entity_type, model
            )
            SELECT coalesce(o.entity_type, d.entity_type), coalesce(o.model, d.model),
                   coalesce(o.ready, 0), coalesce(o.scheduled, 0), coalesce(o.running, 0), coalesce(o.lease_expired, 0),
                   coalesce(d.dead, 0), o.oldest_s,
                   p.paused_until, p.reason
            FROM outstanding o FULL JOIN dead d ON o.entity_type = d.entity_type AND o.model = d.model
            LEFT JOIN {_pauses} p ON p.model = coalesce(o.model, d.model) AND p.paused_until > now()
            ORDER BY 1, 2
            """;

        public string CountOutstanding => field ??= $"SELECT count(*) FROM {_tasks} WHERE model = ANY($1)";

        public string HasPendingWork => field ??= $"""
            SELECT EXISTS (SELECT 1 FROM {_tasks} WHERE model = $2 AND entity_type = $1)
                OR EXISTS (SELECT 1 FROM {_dead} WHERE entity_type = $1 AND model = $2)
            """;

        public string PendingEntityIds => field ??= $"""
            SELECT entity_id FROM {_tasks} WHERE entity_type = $1 AND model = $2
            UNION ALL SELECT entity_id FROM {_dead} WHERE entity_type = $1 AND model = $2
            """;

        public string TaskKeys => field ??= $"""
            SELECT entity_id, model FROM {_tasks} WHERE entity_type = $1 AND entity_id = ANY($2)
            UNION
            SELECT entity_id, model FROM {_dead} WHERE entity_type = $1 AND entity_id = ANY($2)
            """;

        public string Pause => field ??= $"""
            INSERT INTO {_pauses} AS p (model, paused_until, reason) VALUES ($1, now() + make_interval(secs => $2), $3)
            ON CONFLICT (model) DO UPDATE SET paused_until = excluded.paused_until, reason = excluded.reason, paused_at = now()
            """;

        public string Resume => field ??= $"DELETE FROM {_pauses} WHERE model = $1";
    }
}
