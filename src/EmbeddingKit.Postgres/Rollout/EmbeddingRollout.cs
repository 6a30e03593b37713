using EmbeddingKit.Postgres.Search;
using EmbeddingKit.Postgres.Storage;
using EmbeddingKit.Postgres.Tasks;
using EmbeddingKit.Tasks;
using Npgsql;
using NpgsqlTypes;

namespace EmbeddingKit.Postgres.Rollout;

/// <summary>
/// Changing models safely: dual-write (enqueue for both), backfill, coverage, the switch of the active search model per
/// entity type (refused below a threshold unless forced), per-model search settings, and retiring a model — which
/// happens only when asked, never because a process does not know a model.
/// </summary>
public sealed class EmbeddingRollout
{
    private readonly NpgsqlDataSource _dataSource;
    private readonly PgvectorEmbeddingStorage _storage;
    private readonly PostgresEmbeddingTaskQueue _queue;
    private readonly PostgresEmbeddingQueueAdmin _admin;
    private readonly string _active;
    private readonly string _settings;
    private readonly string _channel;

    /// <summary>Creates the rollout helper over a migrated schema.</summary>
    public EmbeddingRollout(NpgsqlDataSource dataSource, string schema, PgvectorEmbeddingStorage storage, PostgresEmbeddingTaskQueue queue)
    {
        ArgumentNullException.ThrowIfNull(dataSource);
        ArgumentNullException.ThrowIfNull(storage);
        ArgumentNullException.ThrowIfNull(queue);
        var quoted = PostgresIdentifier.Quote(schema, nameof(schema));
        _dataSource = dataSource;
        _storage = storage;
        _queue = queue;
        _admin = new PostgresEmbeddingQueueAdmin(dataSource, schema, queue.Options);
        _active = quoted + ".embeddingkit_active_models";
        _settings = quoted + ".embeddingkit_model_settings";
        Schema = schema;
        TaskChannel = queue.NotificationChannel;
        _channel = NotificationChannelFor(schema);
    }

    /// <summary>Gets the schema the rollout state lives in.</summary>
    internal string Schema { get; }

    /// <summary>Gets the primary database: the rollout state is read and written there, never on a replica.</summary>
    internal NpgsqlDataSource DataSource => _dataSource;

    /// <summary>Gets the channel the queue notifies on enqueue (new work can make a model's coverage incomplete).</summary>
    internal string TaskChannel { get; }

    /// <summary>The <c>LISTEN</c> channel notified (after commit) when an activation, a retirement or saved search
    /// settings change what search reads for an entity type.</summary>
    internal static string NotificationChannelFor(string schema) => PostgresEmbeddingTaskQueue.ChannelFor(schema) + "_rollout";

    /// <summary>
    /// What search needs about an entity type, read from the primary in one round trip: the active model (with its
    /// fallback and coverage when activated), the saved search settings of both models, and whether the active model
    /// has outstanding or dead tasks for the type. <see cref="ActiveModelCache"/> keeps it between changes.
    /// </summary>
    public async ValueTask<SearchModelState> GetSearchStateAsync(string entityType, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(entityType);
        await using var command = _dataSource.CreateCommand($"""
            SELECT a.entity_type, a.model, a.previous_model, a.coverage, a.forced, a.switched_at,
                   s.path, s.oversample, s.ef_search, s.recall,
                   p.path, p.oversample, p.ef_search, p.recall,
                   a.model IS NOT NULL AND ({_admin.PendingWorkCondition("$1", "a.model")})
            FROM (SELECT $1::text AS entity_type) e
            LEFT JOIN {_active} a ON a.entity_type = e.entity_type
            LEFT JOIN {_settings} s ON s.model = a.model
            LEFT JOIN {_settings} p ON p.model = a.previous_model
            """);
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = entityType });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
        if (reader.IsDBNull(0))
        {
            return new SearchModelState(entityType, null, null, null, false);
        }

        var active = ReadActive(reader);
        return new SearchModelState(
            entityType,
            active,
            ReadSettings(reader, 6, active.Model),
            active.PreviousModel is null ? null : ReadSettings(reader, 10, active.PreviousModel),
            reader.GetBoolean(14));
    }

    /// <summary>The active model of an entity type, or null when none was activated.</summary>
    public async ValueTask<ActiveModel?> GetActiveAsync(string entityType, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(entityType);
        await using var command = _dataSource.CreateCommand($"SELECT entity_type, model, previous_model, coverage, forced, switched_at FROM {_active} WHERE entity_type = $1");
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = entityType });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        return await reader.ReadAsync(cancellationToken).ConfigureAwait(false) ? ReadActive(reader) : null;
    }

    /// <summary>Every entity type's active model.</summary>
    public async ValueTask<IReadOnlyList<ActiveModel>> ListActiveAsync(CancellationToken cancellationToken = default)
    {
        await using var command = _dataSource.CreateCommand($"SELECT entity_type, model, previous_model, coverage, forced, switched_at FROM {_active} ORDER BY entity_type");
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        var list = new List<ActiveModel>();
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            list.Add(ReadActive(reader));
        }

        return list;
    }

    /// <summary>How many of <paramref name="totalEntities"/> entities the model has a stored vector for.</summary>
    /// <param name="entityType">The entity type.</param>
    /// <param name="model">The model.</param>
    /// <param name="totalEntities">The host's count of entities of the type (it owns them).</param>
    /// <param name="cancellationToken">Cancels the count.</param>
    public async ValueTask<ModelCoverage> GetCoverageAsync(string entityType, string model, long totalEntities, CancellationToken cancellationToken = default)
    {
        var stored = await _storage.CountAsync(entityType, model, cancellationToken).ConfigureAwait(false);
        return new ModelCoverage(entityType, model, stored, totalEntities);
    }

    /// <summary>
    /// Makes <paramref name="model"/> the model search answers with for <paramref name="entityType"/>; the current one
    /// becomes the fallback. Refused with <see cref="CoverageTooLowException"/> when the model covers less than
    /// <paramref name="minCoverage"/> of the entities, unless <paramref name="force"/>.
    /// </summary>
    public async ValueTask<ActiveModel> ActivateAsync(string entityType, string model, long totalEntities, double minCoverage = 1.0, bool force = false, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(entityType);
        ArgumentException.ThrowIfNullOrWhiteSpace(model);
        ArgumentOutOfRangeException.ThrowIfLessThan(minCoverage, 0);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(minCoverage, 1);
        var coverage = await GetCoverageAsync(entityType, model, totalEntities, cancellationToken).ConfigureAwait(false);
        if (coverage.Ratio < minCoverage && !force)
        {
            throw new CoverageTooLowException(coverage, minCoverage);
        }

        await using var command = _dataSource.CreateCommand($"""
            INSERT INTO {_active} AS a (entity_type, model, previous_model, coverage, forced)
            VALUES ($1, $2, NULL, $3, $4)
            ON CONFLICT (entity_type) DO UPDATE SET
                previous_model = CASE WHEN a.model = excluded.model THEN a.previous_model ELSE a.model END,
                model = excluded.model, coverage = excluded.coverage, forced = excluded.forced, switched_at = now()
            RETURNING entity_type, model, previous_model, coverage, forced, switched_at, pg_notify($5, entity_type)
            """);
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = entityType });
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = model });
        command.Parameters.Add(new NpgsqlParameter<double> { TypedValue = coverage.Ratio });
        command.Parameters.Add(new NpgsqlParameter<bool> { TypedValue = coverage.Ratio < minCoverage });
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = _channel });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
        return ReadActive(reader);
    }

    /// <summary>
    /// Enqueues a model's embedding of entities, in batches, at a low priority so live updates go first. With
    /// <paramref name="missingOnly"/>, only entities without a stored vector of the model are enqueued, so an interrupted
    /// backfill resumes where it stopped.
    /// </summary>
    /// <returns>The number of tasks enqueued.</returns>
    public async ValueTask<long> BackfillAsync(
        string entityType, string model, IAsyncEnumerable<string> entityIds, bool missingOnly = true, int batchSize = 1_000, short priority = 10,
        IProgress<long>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(entityIds);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        long enqueued = 0;
        var batch = new List<string>(batchSize);
        await foreach (var id in entityIds.WithCancellation(cancellationToken).ConfigureAwait(false))
        {
            batch.Add(id);
            if (batch.Count == batchSize)
            {
                enqueued += await FlushAsync().ConfigureAwait(false);
            }
        }

        enqueued += await FlushAsync().ConfigureAwait(false);
        return enqueued;

        async Task<int> FlushAsync()
        {
            if (batch.Count == 0)
            {
                return 0;
            }

            IEnumerable<string> ids = batch;
            if (missingOnly)
            {
                var stored = await _storage.GetStatesAsync(entityType, model, batch, cancellationToken).ConfigureAwait(false);
                ids = batch.Where(id => !stored.ContainsKey(id));
            }

            var requests = ids.Select(id => new EnqueueRequest(entityType, id, model) { Priority = priority }).ToList();
            var written = await _queue.EnqueueAsync(requests, cancellationToken).ConfigureAwait(false);
            batch.Clear();
            progress?.Report(written);
            return written;
        }
    }

    /// <summary>
    /// Retires a model in one transaction: its tasks (outstanding and dead), its stored vectors and its search settings.
    /// Refused while it is active for an entity type, unless <paramref name="force"/>. Its indexes go with
    /// <see cref="EmbeddingIndexManager.DropModelIndexesAsync"/>.
    /// </summary>
    /// <remarks>The tasks go first: with writes guarded by the queue (<see cref="PgvectorEmbeddingStorage.TaskQueueSchema"/>),
    /// a worker that still has the model registered and a task of it in flight either wrote before (its vector is deleted
    /// here, the retire waits for its write to commit) or finds its task gone and writes nothing: no orphan afterwards.</remarks>
    /// <returns>Vectors deleted and tasks deleted.</returns>
    public async ValueTask<(int Vectors, int Tasks)> RetireModelAsync(string model, bool force = false, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(model);
        var active = await ListActiveAsync(cancellationToken).ConfigureAwait(false);
        if (!force && active.FirstOrDefault(a => a.Model == model) is { } inUse)
        {
            throw new InvalidOperationException($"Model '{model}' is the active search model of {inUse.EntityType}; activate another model first.");
        }

        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        var tasks = await _admin.DeleteModelTasksInTransactionAsync(model, connection, transaction, cancellationToken).ConfigureAwait(false);
        var vectors = await _storage.DeleteModelInTransactionAsync(model, connection, transaction, cancellationToken).ConfigureAwait(false);
        await using (var command = new NpgsqlCommand($"""
            WITH cleared AS (UPDATE {_active} SET previous_model = NULL WHERE previous_model = $1),
                 deleted AS (DELETE FROM {_settings} WHERE model = $1)
            SELECT pg_notify($2, '')
            """, connection, transaction))
        {
            command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = model });
            command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = _channel });
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        return (vectors, tasks);
    }

    /// <summary>The saved search settings of a model, or null.</summary>
    public async ValueTask<ModelSearchSettings?> GetSearchSettingsAsync(string model, CancellationToken cancellationToken = default)
    {
        await using var command = _dataSource.CreateCommand($"SELECT path, oversample, ef_search, recall FROM {_settings} WHERE model = $1");
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = model });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        return await reader.ReadAsync(cancellationToken).ConfigureAwait(false) ? ReadSettings(reader, 0, model) : null;
    }

    /// <summary>Saves a model's search settings (for example the tuner's recommendation); an
    /// <see cref="ActiveModelCache"/> listening on the primary drops what it kept.</summary>
    public async ValueTask SaveSearchSettingsAsync(string model, SearchPath path, int oversample, int efSearch, double? recall = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(model);
        ArgumentOutOfRangeException.ThrowIfLessThan(oversample, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(efSearch, 1);
        await using var command = _dataSource.CreateCommand($"""
            INSERT INTO {_settings} (model, path, oversample, ef_search, recall) VALUES ($1, $2, $3, $4, $5)
            ON CONFLICT (model) DO UPDATE SET path = excluded.path, oversample = excluded.oversample,
                ef_search = excluded.ef_search, recall = excluded.recall, tuned_at = now()
            RETURNING pg_notify($6, model)
            """);
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = model });
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = path == SearchPath.Hnsw ? "hnsw" : "two-stage" });
        command.Parameters.Add(new NpgsqlParameter<int> { TypedValue = oversample });
        command.Parameters.Add(new NpgsqlParameter<int> { TypedValue = efSearch });
        command.Parameters.Add(new NpgsqlParameter<double?> { TypedValue = recall, NpgsqlDbType = NpgsqlDbType.Double });
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = _channel });
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Whether the model still has outstanding or dead tasks for the entity type (coverage is incomplete).</summary>
    public ValueTask<bool> HasPendingWorkAsync(string entityType, string model, CancellationToken cancellationToken = default) =>
        _admin.HasPendingWorkAsync(entityType, model, cancellationToken);

    /// <summary>
    /// The entities of a type the model lacks a vector for, as far as it is cheap to know: those with an outstanding or
    /// dead task of the model, and, when <paramref name="previousModel"/> is given (after an activation below full
    /// coverage), those the previous model has a vector for. Reads at most <paramref name="limit"/> rows;
    /// <c>Complete</c> is false when there may be more.
    /// </summary>
    internal async ValueTask<(IReadOnlySet<string> Ids, bool Complete)> GetUncoveredAsync(string entityType, string model, string? previousModel, int limit, CancellationToken cancellationToken)
    {
        var vectors = _storage.GetTable(model).QualifiedName;
        var previous = previousModel is null ? null : _storage.GetTable(previousModel).QualifiedName;
        var candidates = _admin.PendingEntityIdsQuery.TrimEnd();
        if (previous is not null)
        {
            candidates += $"\nUNION ALL SELECT entity_id FROM {previous} WHERE entity_type = $1 AND model = $4";
        }

        await using var command = _dataSource.CreateCommand($"""
            SELECT c.entity_id FROM ({candidates}) c
            WHERE NOT EXISTS (SELECT 1 FROM {vectors} v WHERE v.entity_type = $1 AND v.entity_id = c.entity_id AND v.model = $2)
            LIMIT $3
            """);
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = entityType });
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = model });
        command.Parameters.Add(new NpgsqlParameter<int> { TypedValue = limit });
        if (previousModel is not null)
        {
            command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = previousModel });
        }

        var ids = new HashSet<string>(StringComparer.Ordinal);
        var rows = 0;
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            ids.Add(reader.GetString(0));
            rows++;
        }

        return (ids, rows < limit);
    }

    // The settings in four columns from `first`: path, oversample, ef_search, recall (all null when none are saved).
    private static ModelSearchSettings? ReadSettings(NpgsqlDataReader reader, int first, string model) => reader.IsDBNull(first)
        ? null
        : new ModelSearchSettings(
            model,
            reader.GetString(first) == "hnsw" ? SearchPath.Hnsw : SearchPath.TwoStage,
            reader.GetInt32(first + 1),
            reader.GetInt32(first + 2),
            reader.IsDBNull(first + 3) ? null : reader.GetDouble(first + 3));

    private static ActiveModel ReadActive(NpgsqlDataReader reader) => new(
        reader.GetString(0),
        reader.GetString(1),
        reader.IsDBNull(2) ? null : reader.GetString(2),
        reader.IsDBNull(3) ? null : reader.GetDouble(3),
        reader.GetBoolean(4),
        reader.GetFieldValue<DateTimeOffset>(5));
}
