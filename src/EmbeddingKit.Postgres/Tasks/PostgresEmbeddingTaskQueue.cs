using System.Text;
using EmbeddingKit.Tasks;
using Npgsql;
using NpgsqlTypes;

namespace EmbeddingKit.Postgres.Tasks;

/// <summary>
/// The embedding task queue on PostgreSQL: a table in the host's schema (created by
/// <see cref="Migrations.EmbeddingKitMigrations"/>), claimed with <c>FOR UPDATE SKIP LOCKED</c> under leases. Every
/// batch operation is one statement, so one round trip and one commit.
/// </summary>
/// <remarks>All times come from the database clock. Thread-safe; share one instance per schema.</remarks>
public sealed class PostgresEmbeddingTaskQueue : IEmbeddingTaskQueue, IEmbeddingQueueStatistics
{
    private readonly NpgsqlDataSource _dataSource;
    private readonly PostgresTaskQueueOptions _options;
    private readonly Random _random;
    private readonly Sql _sql;

    /// <summary>Creates the queue over <paramref name="schema"/>, which must have been migrated.</summary>
    /// <param name="dataSource">The database.</param>
    /// <param name="schema">The host's schema (a plain identifier).</param>
    /// <param name="options">Retry, deferral and pause settings; defaults when null.</param>
    /// <param name="random">The jitter source; <see cref="Random.Shared"/> when null.</param>
    public PostgresEmbeddingTaskQueue(NpgsqlDataSource dataSource, string schema, PostgresTaskQueueOptions? options = null, Random? random = null)
    {
        ArgumentNullException.ThrowIfNull(dataSource);
        _dataSource = dataSource;
        Schema = PostgresIdentifier.Validate(schema, nameof(schema));
        _options = options ?? new PostgresTaskQueueOptions();
        _options.Validate();
        _random = random ?? Random.Shared;
        _sql = new Sql(PostgresIdentifier.Quote(schema));
        NotificationChannel = ChannelFor(schema);
    }

    /// <summary>Gets the schema the queue lives in.</summary>
    public string Schema { get; }

    /// <summary>Gets the <c>LISTEN</c> channel notified (after commit) whenever tasks are enqueued.</summary>
    public string NotificationChannel { get; }

    /// <summary>The statements (for the bench program, which replays them through pgbench).</summary>
    internal Sql Statements => _sql;

    /// <summary>Gets the options in force.</summary>
    public PostgresTaskQueueOptions Options => _options;

    /// <summary>The notification channel for a schema: short, stable and a plain identifier.</summary>
    public static string ChannelFor(string schema)
    {
        PostgresIdentifier.Validate(schema, nameof(schema));
        var hash = 14695981039346656037UL;
        foreach (var b in Encoding.UTF8.GetBytes(schema))
        {
            hash = (hash ^ b) * 1099511628211UL;
        }

        return $"embeddingkit_{hash:x16}";
    }

    /// <inheritdoc />
    public async ValueTask<int> EnqueueAsync(IReadOnlyList<EnqueueRequest> requests, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(requests);
        if (requests.Count == 0)
        {
            return 0;
        }

        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        return await EnqueueAsync(requests, connection, null, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Enqueues (or coalesces) tasks on the caller's connection, inside the caller's transaction when given, so that a
    /// host's own write and its enqueue commit or roll back together.
    /// </summary>
    /// <returns>The number of distinct keys written.</returns>
    public async ValueTask<int> EnqueueAsync(IReadOnlyList<EnqueueRequest> requests, NpgsqlConnection connection, NpgsqlTransaction? transaction, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(requests);
        ArgumentNullException.ThrowIfNull(connection);
        if (requests.Count == 0)
        {
            return 0;
        }

        var count = requests.Count;
        var entityTypes = new string[count];
        var entityIds = new string[count];
        var models = new string[count];
        var kinds = new short[count];
        var priorities = new short[count];
        var delays = new double[count];
        for (var i = 0; i < count; i++)
        {
            var request = requests[i] ?? throw new ArgumentException($"Request {i} is null.", nameof(requests));
            entityTypes[i] = request.EntityType;
            entityIds[i] = request.EntityId;
            models[i] = request.Model;
            kinds[i] = (short)request.Kind;
            priorities[i] = request.Priority;
            delays[i] = Math.Max(0, request.Delay.TotalSeconds);
        }

        await using var command = new NpgsqlCommand(_sql.Enqueue, connection, transaction);
        command.Parameters.Add(Text(entityTypes));
        command.Parameters.Add(Text(entityIds));
        command.Parameters.Add(Text(models));
        command.Parameters.Add(new NpgsqlParameter<short[]> { TypedValue = kinds });
        command.Parameters.Add(new NpgsqlParameter<short[]> { TypedValue = priorities });
        command.Parameters.Add(new NpgsqlParameter<double[]> { TypedValue = delays });
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = NotificationChannel });
        var written = await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
        return Convert.ToInt32(written, System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<EmbeddingTask>> FetchReadyAsync(FetchRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        var single = request.Models.Count == 1;

        // One round trip: the plan settings (local to the batch's implicit transaction), then the claim.
        await using var batch = new NpgsqlBatch(connection);
        batch.BatchCommands.Add(new NpgsqlBatchCommand(Sql.ClaimPlanSettings));
        var command = new NpgsqlBatchCommand(single ? _sql.FetchOneModel : _sql.FetchManyModels);
        batch.BatchCommands.Add(command);
        if (single)
        {
            command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = request.Models.First() });
        }
        else
        {
            command.Parameters.Add(Text([.. request.Models]));
        }

        command.Parameters.Add(new NpgsqlParameter<int> { TypedValue = request.BatchSize });
        command.Parameters.Add(new NpgsqlParameter<Guid> { TypedValue = Guid.NewGuid() });
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = request.WorkerId });
        command.Parameters.Add(new NpgsqlParameter<double> { TypedValue = request.LeaseDuration.TotalSeconds });
        command.Parameters.Add(new NpgsqlParameter<int> { TypedValue = _options.MaxAttempts });

        var tasks = new List<EmbeddingTask>(request.BatchSize);
        await using (var reader = await batch.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
        {
            await reader.NextResultAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                tasks.Add(new EmbeddingTask
                {
                    Id = reader.GetInt64(0),
                    EntityType = reader.GetString(1),
                    EntityId = reader.GetString(2),
                    Model = reader.GetString(3),
                    Kind = (EmbeddingTaskKind)reader.GetInt16(4),
                    Priority = reader.GetInt16(5),
                    Generation = reader.GetInt64(6),
                    Attempts = reader.GetInt32(7),
                    Deferrals = reader.GetInt32(8),
                    LeaseToken = reader.GetGuid(9),
                    LeaseExpiresAt = reader.GetFieldValue<DateTimeOffset>(10),
                    FirstEnqueuedAt = reader.GetFieldValue<DateTimeOffset>(11),
                    EnqueuedAt = reader.GetFieldValue<DateTimeOffset>(12),
                    LastError = reader.IsDBNull(13) ? null : reader.GetString(13),
                });
            }
        }

        tasks.Sort(static (a, b) => a.Priority != b.Priority ? a.Priority.CompareTo(b.Priority) : a.Id.CompareTo(b.Id));
        return tasks;
    }

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<long>> ExtendLeaseAsync(IReadOnlyList<EmbeddingTask> tasks, TimeSpan leaseDuration, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(tasks);
        if (tasks.Count == 0)
        {
            return [];
        }

        await using var command = _dataSource.CreateCommand(_sql.ExtendLease);
        AddIdsAndTokens(command, tasks);
        command.Parameters.Add(new NpgsqlParameter<double> { TypedValue = leaseDuration.TotalSeconds });
        return await ReadIdsAsync(command, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask<CompleteResult> CompleteAsync(IReadOnlyList<EmbeddingTask> tasks, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(tasks);
        if (tasks.Count == 0)
        {
            return CompleteResult.Empty;
        }

        await using var command = _dataSource.CreateCommand(_sql.Complete);
        AddIdsAndTokens(command, tasks);
        command.Parameters.Add(new NpgsqlParameter<long[]> { TypedValue = [.. tasks.Select(t => t.Generation)] });
        var completed = new List<long>(tasks.Count);
        var rerun = new List<long>();
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
        {
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                (reader.GetBoolean(0) ? completed : rerun).Add(reader.GetInt64(1));
            }
        }

        return new CompleteResult(completed, rerun, Missing(tasks, completed, rerun));
    }

    /// <inheritdoc />
    public async ValueTask<FailResult> FailAsync(IReadOnlyList<TaskFailure> failures, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(failures);
        if (failures.Count == 0)
        {
            return FailResult.Empty;
        }

        var count = failures.Count;
        var ids = new long[count];
        var tokens = new Guid[count];
        var generations = new long[count];
        var kinds = new short[count];
        var errors = new string[count];
        var delays = new double[count];
        for (var i = 0; i < count; i++)
        {
            var failure = WithLongWaitAsPause(failures[i]);
            ids[i] = failure.Task.Id;
            tokens[i] = failure.Task.LeaseToken;
            generations[i] = failure.Task.Generation;
            kinds[i] = (short)failure.Kind;
            errors[i] = Truncate(failure.Error);
            delays[i] = DelayFor(failure).TotalSeconds;
        }

        await using var command = _dataSource.CreateCommand(_sql.Fail);
        command.Parameters.Add(new NpgsqlParameter<long[]> { TypedValue = ids });
        command.Parameters.Add(new NpgsqlParameter<Guid[]> { TypedValue = tokens });
        command.Parameters.Add(new NpgsqlParameter<long[]> { TypedValue = generations });
        command.Parameters.Add(new NpgsqlParameter<short[]> { TypedValue = kinds });
        command.Parameters.Add(Text(errors));
        command.Parameters.Add(new NpgsqlParameter<double[]> { TypedValue = delays });
        command.Parameters.Add(new NpgsqlParameter<int> { TypedValue = _options.MaxAttempts });
        command.Parameters.Add(new NpgsqlParameter<double> { TypedValue = _options.ModelPauseDuration.TotalSeconds });
        var retried = new List<long>();
        var dead = new List<long>();
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
        {
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                (reader.GetBoolean(0) ? dead : retried).Add(reader.GetInt64(1));
            }
        }

        return new FailResult(retried, dead, Missing(failures.Select(f => f.Task).ToList(), retried, dead));
    }

    /// <inheritdoc />
    public async ValueTask<int> ReleaseAsync(IReadOnlyList<EmbeddingTask> tasks, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(tasks);
        if (tasks.Count == 0)
        {
            return 0;
        }

        await using var command = _dataSource.CreateCommand(_sql.Release);
        AddIdsAndTokens(command, tasks);
        return (await ReadIdsAsync(command, cancellationToken).ConfigureAwait(false)).Count;
    }

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
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = NotificationChannel });
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

    /// <summary>
    /// One claim-process-finish cycle with <paramref name="handler"/>: the entry point for other job systems
    /// (a Hangfire or Quartz job calls it until it returns <see cref="DrainResult.Claimed"/> = 0).
    /// </summary>
    public Task<DrainResult> DrainOnceAsync(IEmbeddingTaskHandler handler, int batchSize = 64, string? workerId = null, TimeSpan? leaseDuration = null, CancellationToken cancellationToken = default) =>
        EmbeddingTaskDrain.RunOnceAsync(this, handler, batchSize, workerId ?? DefaultWorkerId, leaseDuration ?? TimeSpan.FromMinutes(2), TimeProvider.System, cancellationToken);

    private static string DefaultWorkerId { get; } = $"{Environment.MachineName}:{Environment.ProcessId}";

    /// <summary>A provider that asks to wait longer than <see cref="PostgresTaskQueueOptions.MaxRateLimitDelay"/> (a
    /// daily quota) is not asked again every few minutes: the model is paused until then, the reason shown in status.</summary>
    private TaskFailure WithLongWaitAsPause(TaskFailure failure) =>
        failure is { Kind: TaskFailureKind.RateLimited, RetryAfter: { } wait } && wait > _options.MaxRateLimitDelay
            ? failure with
            {
                Kind = TaskFailureKind.Configuration,
                RetryAfter = Clamp(wait, _options.MaxModelPauseDuration),
                Error = $"Rate limited: the provider asks to wait {wait}, longer than MaxRateLimitDelay ({_options.MaxRateLimitDelay}); the model is paused until then (at most MaxModelPauseDuration, {_options.MaxModelPauseDuration}). {failure.Error}",
            }
            : failure;

    private TimeSpan DelayFor(TaskFailure failure) => failure.Kind switch
    {
        TaskFailureKind.RateLimited => Clamp(failure.RetryAfter ?? _options.DefaultRateLimitDelay, _options.MaxRateLimitDelay),
        TaskFailureKind.Configuration => Clamp(failure.RetryAfter ?? _options.ModelPauseDuration, Max(_options.BackoffMax, _options.MaxModelPauseDuration)),
        TaskFailureKind.Retryable => TaskBackoff.Delay(failure.Task.Attempts, _options, _random.NextDouble()),
        _ => TimeSpan.Zero,
    };

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;

    private static TimeSpan Clamp(TimeSpan value, TimeSpan max) => value < TimeSpan.Zero ? TimeSpan.Zero : value > max ? max : value;

    private string Truncate(string error) => error.Length <= _options.MaxErrorLength ? error : error[.._options.MaxErrorLength] + "…";

    private static NpgsqlParameter<string[]> Text(string[] values) => new() { TypedValue = values, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text };

    private static void AddIdsAndTokens(NpgsqlCommand command, IReadOnlyList<EmbeddingTask> tasks)
    {
        command.Parameters.Add(new NpgsqlParameter<long[]> { TypedValue = [.. tasks.Select(t => t.Id)] });
        command.Parameters.Add(new NpgsqlParameter<Guid[]> { TypedValue = [.. tasks.Select(t => t.LeaseToken)] });
    }

    private static async Task<IReadOnlyList<long>> ReadIdsAsync(NpgsqlCommand command, CancellationToken cancellationToken)
    {
        var ids = new List<long>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            ids.Add(reader.GetInt64(0));
        }

        return ids;
    }

    private static List<long> Missing(IReadOnlyList<EmbeddingTask> tasks, List<long> first, List<long> second)
    {
        if (first.Count + second.Count == tasks.Count)
        {
            return [];
        }

        var seen = new HashSet<long>(first);
        seen.UnionWith(second);
        return [.. tasks.Select(t => t.Id).Where(id => !seen.Contains(id))];
    }

    /// <summary>The statements, with the schema spliced in once (validated and quoted).</summary>
    internal sealed class Sql(string s)
    {
        public string TasksTable => _tasks;

        private readonly string _tasks = s + ".embeddingkit_embedding_tasks";
        private readonly string _dead = s + ".embeddingkit_embedding_tasks_dead";
        private readonly string _pauses = s + ".embeddingkit_model_pauses";

        private const string Returning = """
            RETURNING t.id, t.entity_type, t.entity_id, t.model, t.kind, t.priority, t.generation, t.attempts, t.deferrals,
                      t.lease_token, t.run_at, t.first_enqueued_at, t.enqueued_at, t.last_error
            """;

        // Duplicates in one batch are folded first (ON CONFLICT cannot touch a row twice), in key order. The lock order of
        // the whole queue is key order, (entity_type, entity_id, model): every statement that locks several task rows
        // takes them in that order (a locking CTE with ORDER BY … FOR UPDATE), so no two of them can deadlock. A new enqueue supersedes a
        // dead task of the same key. A task that a worker holds keeps its lease: its complete sees the new generation
        // and releases it to run again.
        public string Enqueue => field ??= $"""
            WITH input AS (
                SELECT DISTINCT ON (entity_type, entity_id, model) *
                FROM unnest($1::text[], $2::text[], $3::text[], $4::smallint[], $5::smallint[], $6::float8[])
                     AS i(entity_type, entity_id, model, kind, priority, delay_s)
                ORDER BY entity_type, entity_id, model, priority
            ),
            cleared AS (
                DELETE FROM {_dead} d USING input i
                WHERE d.entity_type = i.entity_type AND d.entity_id = i.entity_id AND d.model = i.model
            ),
            written AS (
                INSERT INTO {_tasks} AS t (entity_type, entity_id, model, kind, priority, run_at)
                SELECT entity_type, entity_id, model, kind, priority,
                       CASE WHEN delay_s > 0 THEN now() + make_interval(secs => delay_s) ELSE now() END
                FROM input
                ON CONFLICT (entity_type, entity_id, model) DO UPDATE SET
                    generation  = excluded.generation,
                    kind        = excluded.kind,
                    enqueued_at = now(),
                    priority    = least(t.priority, excluded.priority),
                    run_at      = CASE WHEN t.lease_token IS NULL THEN least(t.run_at, excluded.run_at) ELSE t.run_at END,
                    attempts    = CASE WHEN t.lease_token IS NULL THEN 0 ELSE t.attempts END
                RETURNING 1
            )
            SELECT count(*), pg_notify($7, '') FROM written
            """;

        // A queue table swings from empty to millions of rows faster than autovacuum analyzes it; without statistics the
        // planner guesses a handful of ready rows and picks a bitmap scan plus a sort of every ready row (8-12 ms at 30,000
        // rows instead of 0.3). The claim is always best as an ordered scan of (model, priority, run_at) that stops after
        // LIMIT rows, so the batch turns the alternatives off for its own implicit transaction (is_local = true: the
        // settings end with it, also under transaction-mode poolers).
        public const string ClaimPlanSettings = "SELECT set_config('enable_bitmapscan', 'off', true), set_config('enable_sort', 'off', true)";

        // The claim is a MATERIALIZED CTE: evaluated exactly once, so the UPDATE can never claim more than LIMIT rows
        // (an IN (SELECT ... LIMIT ... FOR UPDATE SKIP LOCKED) subquery may be re-evaluated and exceed it).
        // The pause check must not reference the task row: as a one-time filter it keeps the plan an ordered index scan
        // on (model, priority, run_at) that stops after LIMIT rows; as an anti-join it sorted every ready row.
        public string FetchOneModel => field ??= Claim($"""
            SELECT t.id, t.attempts FROM {_tasks} t
                WHERE t.model = $1 AND t.run_at <= now()
                  AND NOT EXISTS (SELECT 1 FROM {_pauses} p WHERE p.model = $1 AND p.paused_until > now())
                ORDER BY t.priority, t.run_at
                LIMIT $2
                FOR UPDATE OF t SKIP LOCKED
            """);

        // Several models: one ordered index scan per model (LATERAL), merged, then the best LIMIT rows. Rows locked by a
        // per-model scan but not among the best are unlocked when the statement commits.
        public string FetchManyModels => field ??= Claim($"""
            SELECT c.id, c.attempts FROM unnest($1::text[]) AS m(model)
                CROSS JOIN LATERAL (
                    SELECT t.id, t.attempts, t.priority, t.run_at FROM {_tasks} t
                    WHERE t.model = m.model AND t.run_at <= now()
                    ORDER BY t.priority, t.run_at
                    LIMIT $2
                    FOR UPDATE OF t SKIP LOCKED
                ) c
                WHERE NOT EXISTS (SELECT 1 FROM {_pauses} p WHERE p.model = m.model AND p.paused_until > now())
                ORDER BY c.priority, c.run_at
                LIMIT $2
            """);

        // A task claimed $6 (MaxAttempts) times already without a complete or a fail killed or hung its worker every time:
        // it is dead-lettered here, with a reason, instead of being handed out again (only a fail dead-letters otherwise).
        private string Claim(string pick) => $"""
            WITH picked AS MATERIALIZED (
                {pick}
            ),
            exhausted AS (
                DELETE FROM {_tasks} t USING picked
                WHERE t.id = picked.id AND picked.attempts >= $6
                RETURNING t.entity_type, t.entity_id, t.model, t.kind, t.priority, t.generation, t.attempts, t.deferrals,
                          t.first_enqueued_at, t.last_error
            ),
            buried AS (
                INSERT INTO {_dead} (entity_type, entity_id, model, kind, priority, generation, attempts, deferrals, error, first_enqueued_at)
                SELECT entity_type, entity_id, model, kind, priority, generation, attempts, deferrals,
                       'Claimed ' || attempts || ' times without a result (the worker crashed, hung or lost its lease each time); '
                       || 'not handed out again' || coalesce('. Last error: ' || last_error, ''),
                       first_enqueued_at
                FROM exhausted
                ON CONFLICT (entity_type, entity_id, model) DO UPDATE SET
                    kind = excluded.kind, priority = excluded.priority, generation = excluded.generation,
                    attempts = excluded.attempts, deferrals = excluded.deferrals, error = excluded.error, died_at = now()
            )
            UPDATE {_tasks} t
            SET lease_token = $3, leased_by = $4, run_at = now() + make_interval(secs => $5), attempts = t.attempts + 1
            FROM picked WHERE t.id = picked.id AND picked.attempts < $6
            {Returning}
            """;

        public string ExtendLease => field ??= $"""
            WITH owned AS MATERIALIZED ({Owned})
            UPDATE {_tasks} t SET run_at = now() + make_interval(secs => $3)
            FROM owned o WHERE t.id = o.id
            RETURNING t.id
            """;

        // The rows a worker still holds (its lease token), locked in key order.
        private string Owned => $"""
            SELECT t.id FROM {_tasks} t JOIN unnest($1::bigint[], $2::uuid[]) AS i(id, token) ON t.id = i.id AND t.lease_token = i.token
                ORDER BY t.entity_type, t.entity_id, t.model
                FOR UPDATE OF t
            """;

        // Done for the generation claimed: delete. Enqueued again while running: release it to run again at once.
        // Lease token no longer ours: untouched, reported as lease lost. The owned rows are locked first (key order), so
        // a complete that waits for an enqueuer's uncommitted row sees its new generation once it commits and reruns it,
        // instead of skipping both the delete and the rerun on its old snapshot.
        public string Complete => field ??= $"""
            WITH input AS (
                SELECT * FROM unnest($1::bigint[], $2::uuid[], $3::bigint[]) AS i(id, token, generation)
            ),
            owned AS MATERIALIZED (
                SELECT t.id, t.generation = i.generation AS done
                FROM {_tasks} t JOIN input i ON t.id = i.id AND t.lease_token = i.token
                ORDER BY t.entity_type, t.entity_id, t.model
                FOR UPDATE OF t
            ),
            deleted AS (
                DELETE FROM {_tasks} t USING owned o
                WHERE t.id = o.id AND o.done
                RETURNING t.id
            ),
            rerun AS (
                UPDATE {_tasks} t
                SET lease_token = NULL, leased_by = NULL, run_at = now(), attempts = 0, last_error = NULL
                FROM owned o
                WHERE t.id = o.id AND NOT o.done
                RETURNING t.id
            )
            SELECT true, id FROM deleted UNION ALL SELECT false, id FROM rerun
            """;

        // kind: 0 retryable, 1 rate limited, 2 configuration, 3 permanent. Dead: permanent, or retryable out of
        // attempts, unless the key was enqueued again while it ran (the new generation deserves its own attempts).
        public string Fail => field ??= $"""
            WITH input AS (
                SELECT * FROM unnest($1::bigint[], $2::uuid[], $3::bigint[], $4::smallint[], $5::text[], $6::float8[])
                     AS i(id, token, generation, kind, error, delay_s)
            ),
            owned AS (
                SELECT t.id, t.model, t.attempts, i.kind, i.error, i.delay_s,
                       (t.generation = i.generation AND (i.kind = 3 OR (i.kind = 0 AND t.attempts >= $7))) AS to_dead,
                       t.generation <> i.generation AS superseded
                FROM {_tasks} t JOIN input i ON t.id = i.id AND t.lease_token = i.token
                ORDER BY t.entity_type, t.entity_id, t.model
                FOR UPDATE OF t
            ),
            moved AS (
                DELETE FROM {_tasks} t USING owned o
                WHERE t.id = o.id AND o.to_dead
                RETURNING t.id, t.entity_type, t.entity_id, t.model, t.kind, t.priority, t.generation, t.attempts,
                          t.deferrals, o.error, t.first_enqueued_at
            ),
            buried AS (
                INSERT INTO {_dead} (entity_type, entity_id, model, kind, priority, generation, attempts, deferrals, error, first_enqueued_at)
                SELECT entity_type, entity_id, model, kind, priority, generation, attempts, deferrals, error, first_enqueued_at
                FROM moved ORDER BY entity_type, entity_id, model
                ON CONFLICT (entity_type, entity_id, model) DO UPDATE SET
                    kind = excluded.kind, priority = excluded.priority, generation = excluded.generation,
                    attempts = excluded.attempts, deferrals = excluded.deferrals, error = excluded.error, died_at = now()
            ),
            retried AS (
                UPDATE {_tasks} t SET
                    lease_token = NULL, leased_by = NULL, last_error = o.error, last_error_at = now(),
                    run_at    = CASE WHEN o.superseded THEN now() ELSE now() + make_interval(secs => o.delay_s) END,
                    attempts  = CASE WHEN o.superseded THEN 0
                                     WHEN o.kind IN (1, 2) THEN greatest(t.attempts - 1, 0) ELSE t.attempts END,
                    deferrals = t.deferrals + CASE WHEN o.kind = 1 AND NOT o.superseded THEN 1 ELSE 0 END
                FROM owned o
                WHERE t.id = o.id AND NOT o.to_dead
                RETURNING t.id
            ),
            paused AS (
                INSERT INTO {_pauses} AS p (model, paused_until, reason)
                SELECT DISTINCT ON (model) model, now() + make_interval(secs => greatest($8, delay_s)), error
                FROM owned WHERE kind = 2 ORDER BY model, delay_s DESC
                ON CONFLICT (model) DO UPDATE SET
                    paused_until = greatest(p.paused_until, excluded.paused_until), reason = excluded.reason, paused_at = now()
            )
            SELECT true, id FROM moved UNION ALL SELECT false, id FROM retried
            """;

        public string Release => field ??= $"""
            WITH owned AS MATERIALIZED ({Owned})
            UPDATE {_tasks} t
            SET lease_token = NULL, leased_by = NULL, run_at = now(), attempts = greatest(t.attempts - 1, 0)
            FROM owned o WHERE t.id = o.id
            RETURNING t.id
            """;

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

        public string Pause => field ??= $"""
            INSERT INTO {_pauses} AS p (model, paused_until, reason) VALUES ($1, now() + make_interval(secs => $2), $3)
            ON CONFLICT (model) DO UPDATE SET paused_until = excluded.paused_until, reason = excluded.reason, paused_at = now()
            """;

        public string Resume => field ??= $"DELETE FROM {_pauses} WHERE model = $1";
    }
}
