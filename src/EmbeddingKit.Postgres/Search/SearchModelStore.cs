using EmbeddingKit.Postgres.Storage;
using EmbeddingKit.Postgres.Tasks;
using Npgsql;
using NpgsqlTypes;

namespace EmbeddingKit.Postgres.Search;

/// <summary>
/// The search models of a schema: the active model of each entity type (and the one before it) and each model's saved
/// search settings. It owns their tables; search reads them here, and the rollout
/// (<c>EmbeddingKit.Postgres.Rollout.EmbeddingRollout</c>) changes them through it.
/// </summary>
/// <remarks>Thread-safe; share one instance per schema.</remarks>
public sealed class SearchModelStore
{
    private readonly NpgsqlDataSource _dataSource;
    private readonly PgvectorEmbeddingStorage _storage;
    private readonly PostgresEmbeddingQueueAdmin _queue;
    private readonly Sql _sql;
    private readonly string _channel;

    /// <summary>Creates the store over a migrated schema.</summary>
    /// <param name="dataSource">The database.</param>
    /// <param name="schema">The host's schema (a plain identifier).</param>
    /// <param name="storage">The storage (which entities a model covers).</param>
    /// <param name="taskChannel">The queue's enqueue channel (<see cref="PostgresEmbeddingTaskQueue.NotificationChannel"/>);
    /// derived from the schema when null.</param>
    public SearchModelStore(NpgsqlDataSource dataSource, string schema, PgvectorEmbeddingStorage storage, string? taskChannel = null)
    {
        ArgumentNullException.ThrowIfNull(dataSource);
        ArgumentNullException.ThrowIfNull(storage);
        _sql = new Sql(PostgresIdentifier.Quote(schema, nameof(schema)));
        _dataSource = dataSource;
        _storage = storage;
        _queue = new PostgresEmbeddingQueueAdmin(dataSource, schema);
        Schema = schema;
        TaskChannel = taskChannel ?? PostgresEmbeddingTaskQueue.ChannelFor(schema);
        _channel = NotificationChannelFor(schema);
    }

    /// <summary>Gets the schema the search models live in.</summary>
    internal string Schema { get; }

    /// <summary>Gets the primary database: the search models are read and written there, never on a replica.</summary>
    internal NpgsqlDataSource DataSource => _dataSource;

    /// <summary>Gets the channel the queue notifies on enqueue (new work can make a model's coverage incomplete).</summary>
    internal string TaskChannel { get; }

    /// <summary>The <c>LISTEN</c> channel notified (after commit) when an activation, a retirement or saved search
    /// settings change what search reads for an entity type.</summary>
    internal static string NotificationChannelFor(string schema) => PostgresEmbeddingTaskQueue.ChannelFor(schema) + "_rollout";

    /// <summary>Raised in this process after an activation, a retirement or saved settings commit, so a cache over this
    /// store drops what it kept at once (other processes learn it from the notification).</summary>
    internal event Action? Changed;

    /// <summary>
    /// What search needs about an entity type, read from the primary in one round trip: the active model (with its
    /// fallback and coverage when activated), the saved search settings of both models, and whether the active model
    /// has outstanding or dead tasks for the type (with no model active: the settings and pending work of
    /// <paramref name="defaultModel"/>). <see cref="ActiveModelCache"/> keeps it between changes.
    /// </summary>
    /// <param name="entityType">The entity type.</param>
    /// <param name="defaultModel">The model search uses while none is active (its pending work is read then).</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    public async ValueTask<SearchModelState> GetSearchStateAsync(string entityType, string? defaultModel = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(entityType);
        await using var command = _dataSource.CreateCommand(_sql.State(_queue.PendingWorkCondition("$1", "coalesce(a.model, $2)")));
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = entityType });
        command.Parameters.Add(new NpgsqlParameter<string?> { TypedValue = defaultModel, NpgsqlDbType = NpgsqlDbType.Text });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
        if (reader.IsDBNull(0))
        {
            return new SearchModelState(entityType, null, defaultModel is null ? null : ReadSettings(reader, 6, defaultModel), null, reader.GetBoolean(14))
            {
                DefaultModel = defaultModel,
                Hybrid = LexicalIndex.ReadHybridSettings(reader, 15),
            };
        }

        var active = ReadActive(reader);
        return new SearchModelState(
            entityType,
            active,
            ReadSettings(reader, 6, active.Model),
            active.PreviousModel is null ? null : ReadSettings(reader, 10, active.PreviousModel),
            reader.GetBoolean(14))
        {
            DefaultModel = defaultModel,
            Hybrid = LexicalIndex.ReadHybridSettings(reader, 15),
        };
    }

    /// <summary>The active model of an entity type, or null when none was activated.</summary>
    public async ValueTask<ActiveModel?> GetActiveAsync(string entityType, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(entityType);
        await using var command = _dataSource.CreateCommand(_sql.GetActive);
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = entityType });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        return await reader.ReadAsync(cancellationToken).ConfigureAwait(false) ? ReadActive(reader) : null;
    }

    /// <summary>Every entity type's active model.</summary>
    public async ValueTask<IReadOnlyList<ActiveModel>> ListActiveAsync(CancellationToken cancellationToken = default)
    {
        await using var command = _dataSource.CreateCommand(_sql.ListActive);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        var list = new List<ActiveModel>();
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            list.Add(ReadActive(reader));
        }

        return list;
    }

    /// <summary>The saved search settings of a model, or null.</summary>
    public async ValueTask<ModelSearchSettings?> GetSearchSettingsAsync(string model, CancellationToken cancellationToken = default)
    {
        await using var command = _dataSource.CreateCommand(_sql.GetSettings);
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = model });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        if (!await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            return null;
        }

        return ReadSettings(reader, 0, model);
    }

    /// <summary>Saves a model's search settings (for example the tuner's recommendation).</summary>
    public async ValueTask SaveSearchSettingsAsync(string model, SearchPath path, int oversample, int efSearch, double? recall = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(model);
        ArgumentOutOfRangeException.ThrowIfLessThan(oversample, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(efSearch, 1);
        await using var command = _dataSource.CreateCommand(_sql.SaveSettings);
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = model });
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = path == SearchPath.Hnsw ? "hnsw" : "two-stage" });
        command.Parameters.Add(new NpgsqlParameter<int> { TypedValue = oversample });
        command.Parameters.Add(new NpgsqlParameter<int> { TypedValue = efSearch });
        command.Parameters.Add(new NpgsqlParameter<double?> { TypedValue = recall, NpgsqlDbType = NpgsqlDbType.Double });
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = _channel });
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        Changed?.Invoke();
    }

    /// <summary>Makes a model the active one of an entity type; the current one becomes the previous (the rollout checks
    /// coverage first).</summary>
    internal async ValueTask<ActiveModel> SetActiveAsync(string entityType, string model, double coverage, bool forced, CancellationToken cancellationToken)
    {
        await using var command = _dataSource.CreateCommand(_sql.SetActive);
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = entityType });
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = model });
        command.Parameters.Add(new NpgsqlParameter<double> { TypedValue = coverage });
        command.Parameters.Add(new NpgsqlParameter<bool> { TypedValue = forced });
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = _channel });
        ActiveModel activated;
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
        {
            await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            activated = ReadActive(reader);
        }

        Changed?.Invoke();
        return activated;
    }

    /// <summary>Forgets a retired model on the caller's transaction: its settings, and its place as a previous model (the
    /// caller raises <see cref="OnChanged"/> after its commit).</summary>
    internal async ValueTask ForgetModelInTransactionAsync(string model, NpgsqlConnection connection, NpgsqlTransaction transaction, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(_sql.ForgetModel, connection, transaction);
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = model });
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = _channel });
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Tells this process's caches that a change committed (for writes made on a caller's transaction).</summary>
    internal void OnChanged() => Changed?.Invoke();

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
        var candidates = _queue.PendingEntityIdsQuery.TrimEnd();
        if (previous is not null)
        {
            candidates += $"\nUNION ALL SELECT entity_id FROM {previous} WHERE entity_type = $1 AND model = $4";
        }

        // Composed per call: the candidates depend on the tables of the models asked for.
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

    /// <summary>The statements, with the schema spliced in once (validated and quoted).</summary>
    private sealed class Sql(string schema)
    {
        private readonly string _active = schema + ".embeddingkit_active_models";
        private readonly string _settings = schema + ".embeddingkit_model_settings";
        private readonly string _hybrid = schema + ".embeddingkit_hybrid_settings";
        private string? _state;

        public string GetActive => field ??= $"SELECT entity_type, model, previous_model, coverage, forced, switched_at FROM {_active} WHERE entity_type = $1";

        public string ListActive => field ??= $"SELECT entity_type, model, previous_model, coverage, forced, switched_at FROM {_active} ORDER BY entity_type";

        public string SetActive => field ??= $"""
            INSERT INTO {_active} AS a (entity_type, model, previous_model, coverage, forced)
            VALUES ($1, $2, NULL, $3, $4)
            ON CONFLICT (entity_type) DO UPDATE SET
                previous_model = CASE WHEN a.model = excluded.model THEN a.previous_model ELSE a.model END,
                model = excluded.model, coverage = excluded.coverage, forced = excluded.forced, switched_at = now()
            RETURNING entity_type, model, previous_model, coverage, forced, switched_at, pg_notify($5, entity_type)
            """;

        public string ForgetModel => field ??= $"""
            WITH cleared AS (UPDATE {_active} SET previous_model = NULL WHERE previous_model = $1),
                 deleted AS (DELETE FROM {_settings} WHERE model = $1)
            SELECT pg_notify($2, '')
            """;

        // The pending-work condition is the queue admin's SQL (the task tables are the queue's).
        public string State(string pendingWork) => _state ??= $"""
            SELECT a.entity_type, a.model, a.previous_model, a.coverage, a.forced, a.switched_at,
                   s.path, s.oversample, s.ef_search, s.recall,
                   p.path, p.oversample, p.ef_search, p.recall,
                   coalesce(a.model, $2) IS NOT NULL AND ({pendingWork}),
                   h.rrf_k, h.vector_weight, h.lexical_weight, h.vector_depth, h.lexical_depth, h.mrr, h.fusion
            FROM (SELECT $1::text AS entity_type) e
            LEFT JOIN {_active} a ON a.entity_type = e.entity_type
            LEFT JOIN {_settings} s ON s.model = coalesce(a.model, $2)
            LEFT JOIN {_settings} p ON p.model = a.previous_model
            LEFT JOIN {_hybrid} h ON h.entity_type = e.entity_type
            """;

        public string GetSettings => field ??= $"SELECT path, oversample, ef_search, recall FROM {_settings} WHERE model = $1";

        public string SaveSettings => field ??= $"""
            INSERT INTO {_settings} (model, path, oversample, ef_search, recall) VALUES ($1, $2, $3, $4, $5)
            ON CONFLICT (model) DO UPDATE SET path = excluded.path, oversample = excluded.oversample,
                ef_search = excluded.ef_search, recall = excluded.recall, tuned_at = now()
            RETURNING pg_notify($6, model)
            """;
    }
}
