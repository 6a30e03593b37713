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
public sealed partial class PostgresEmbeddingTaskQueue : IEmbeddingTaskQueue
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
        _sql = new Sql(new TaskTables(schema));
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
}
