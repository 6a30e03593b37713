using EmbeddingKit.Postgres.Search;
using EmbeddingKit.Postgres.Storage;
using EmbeddingKit.Postgres.Tasks;
using EmbeddingKit.Tasks;
using Npgsql;

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
    private readonly SearchModelStore _models;

    /// <summary>Creates the rollout helper over a migrated schema.</summary>
    public EmbeddingRollout(NpgsqlDataSource dataSource, string schema, PgvectorEmbeddingStorage storage, PostgresEmbeddingTaskQueue queue)
    {
        ArgumentNullException.ThrowIfNull(dataSource);
        ArgumentNullException.ThrowIfNull(storage);
        ArgumentNullException.ThrowIfNull(queue);
        _dataSource = dataSource;
        _storage = storage;
        _queue = queue;
        _admin = new PostgresEmbeddingQueueAdmin(dataSource, schema, queue.Options);
        _models = new SearchModelStore(dataSource, schema, storage, queue.NotificationChannel);
    }

    /// <summary>The <c>LISTEN</c> channel notified (after commit) when an activation, a retirement or saved search
    /// settings change what search reads for an entity type.</summary>
    internal static string NotificationChannelFor(string schema) => SearchModelStore.NotificationChannelFor(schema);

    /// <summary>
    /// What search needs about an entity type, read from the primary in one round trip (see
    /// <see cref="SearchModelStore.GetSearchStateAsync"/>).
    /// </summary>
    public ValueTask<SearchModelState> GetSearchStateAsync(string entityType, string? defaultModel = null, CancellationToken cancellationToken = default) =>
        _models.GetSearchStateAsync(entityType, defaultModel, cancellationToken);

    /// <summary>Gets the search models (active models and search settings) this rollout changes.</summary>
    public SearchModelStore SearchModels => _models;

    /// <summary>The active model of an entity type, or null when none was activated.</summary>
    public ValueTask<ActiveModel?> GetActiveAsync(string entityType, CancellationToken cancellationToken = default) =>
        _models.GetActiveAsync(entityType, cancellationToken);

    /// <summary>Every entity type's active model.</summary>
    public ValueTask<IReadOnlyList<ActiveModel>> ListActiveAsync(CancellationToken cancellationToken = default) =>
        _models.ListActiveAsync(cancellationToken);

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

        return await _models.SetActiveAsync(entityType, model, coverage.Ratio, coverage.Ratio < minCoverage, cancellationToken).ConfigureAwait(false);
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
        await _models.ForgetModelInTransactionAsync(model, connection, transaction, cancellationToken).ConfigureAwait(false);
        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        _models.OnChanged();
        return (vectors, tasks);
    }

    /// <summary>The saved search settings of a model, or null.</summary>
    public ValueTask<ModelSearchSettings?> GetSearchSettingsAsync(string model, CancellationToken cancellationToken = default) =>
        _models.GetSearchSettingsAsync(model, cancellationToken);

    /// <summary>Saves a model's search settings (for example the tuner's recommendation).</summary>
    public ValueTask SaveSearchSettingsAsync(string model, SearchPath path, int oversample, int efSearch, double? recall = null, CancellationToken cancellationToken = default) =>
        _models.SaveSearchSettingsAsync(model, path, oversample, efSearch, recall, cancellationToken);

    /// <summary>Whether the model still has outstanding or dead tasks for the entity type (coverage is incomplete).</summary>
    public ValueTask<bool> HasPendingWorkAsync(string entityType, string model, CancellationToken cancellationToken = default) =>
        _admin.HasPendingWorkAsync(entityType, model, cancellationToken);
}
