using EmbeddingKit.Diagnostics;
using EmbeddingKit.Postgres.Storage;
using EmbeddingKit.Runtime;
using Npgsql;

namespace EmbeddingKit.Postgres.Search;

/// <summary>
/// Search as a host calls it: embeds the query with the entity type's active model (normalized, with the model's query
/// prefix and options), runs the model's saved search setting (without one, the default of its dimensions:
/// <see cref="VectorSearchDefaults.PathFor"/>), and, for entities
/// the active model lacks a vector for, mixes in hits from the previous model or the host's lexical search.
/// </summary>
/// <remarks>
/// <para>What search reads before it runs (the active model, its settings and whether its coverage is complete) comes
/// from the primary in one round trip, or from <see cref="ActiveModels"/> without one. Only when the active model may lack
/// vectors (it has outstanding or dead tasks, or was activated below full coverage) and a fallback exists are the
/// entities it lacks listed before the search: those with an outstanding or dead
/// task of the active model and no vector of it, and, after an activation below full coverage, those the previous model
/// has a vector for and the active one has not. With none, the query is embedded once, by the active model; otherwise the
/// previous model searches only those entities (up to 1,000 of them; beyond, its hits are checked against the active
/// model's vectors). When the fallback fails (the previous model's provider is down), the answer is the active model's
/// hits, with <see cref="EmbeddingSearchResult.FallbackError"/> saying why.</para>
/// <para>Scores of different models are not comparable, so fallback hits are interleaved by rank with the active
/// model's hits rather than merged by score.</para>
/// <para>With <see cref="ReadSearch"/> (a search over a read replica), the vector queries run there while the state,
/// coverage and pending-work checks read the primary. A replica that fails (unreachable, a model's table not replayed
/// yet, a query cancelled by a recovery conflict) or answers fewer than <c>k</c> hits (it may not have replayed the
/// vectors yet) is asked no further: the primary answers that query.</para>
/// </remarks>
public sealed class EmbeddingSearchService
{
    private readonly QueryEmbedder _queries;
    private readonly PgvectorSearch _search;
    private readonly SearchModelStore _models;
    private readonly PgvectorEmbeddingStorage _storage;
    private readonly ILexicalSearch? _lexical;

    // The most entities lacking an active vector that are listed; the previous model then searches only them.
    private readonly int _uncoveredLimit;

    /// <summary>Creates the service.</summary>
    /// <param name="queries">Embeds queries (its registry knows the models).</param>
    /// <param name="search">Runs vector queries.</param>
    /// <param name="models">Knows the active model and each model's settings.</param>
    /// <param name="storage">The storage (its tables, and which entities a model covers).</param>
    /// <param name="lexical">The host's lexical fallback, if any.</param>
    /// <param name="options">The options; <see cref="EmbeddingSearchDefaults"/> when not given.</param>
    public EmbeddingSearchService(QueryEmbedder queries, PgvectorSearch search, SearchModelStore models, PgvectorEmbeddingStorage storage, ILexicalSearch? lexical = null, EmbeddingSearchOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(queries);
        ArgumentNullException.ThrowIfNull(search);
        ArgumentNullException.ThrowIfNull(models);
        ArgumentNullException.ThrowIfNull(storage);
        _queries = queries;
        _search = search;
        _models = models;
        _storage = storage;
        _lexical = lexical;
        options?.Validate();
        _uncoveredLimit = options?.UncoveredLimit ?? EmbeddingSearchDefaults.UncoveredLimit;
    }

    /// <summary>Gets the cache of the active model, settings and coverage (reads them from the primary before every
    /// search when null).</summary>
    public ActiveModelCache? ActiveModels { get; init; }

    /// <summary>Gets the search over a read replica that vector queries run on first, when given (see the remarks).</summary>
    public PgvectorSearch? ReadSearch { get; init; }

    /// <summary>Searches an entity type.</summary>
    /// <param name="query">The query text.</param>
    /// <param name="entityType">The entity type.</param>
    /// <param name="k">How many hits (1 to 1,000).</param>
    /// <param name="model">A model to use instead of the active one (no fallback then).</param>
    /// <param name="path">A path to use instead of the model's saved one.</param>
    /// <param name="entityIds">Only these entities (an allow-list filter), when given.</param>
    /// <param name="cancellationToken">Cancels the search.</param>
    /// <remarks>When embedding the query fails with an <see cref="EmbeddingProviderException"/> and a lexical search was
    /// given, the answer comes from the lexical search alone (<see cref="EmbeddingSearchResult.FallbackUsed"/>).</remarks>
    /// <exception cref="ArgumentException">No model is active for the entity type and none was given, or the model is not
    /// registered in this process.</exception>
    public async ValueTask<EmbeddingSearchResult> SearchAsync(
        string query, string entityType, int k = 10, string? model = null, SearchPath? path = null, IReadOnlyCollection<string>? entityIds = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(query);
        ArgumentException.ThrowIfNullOrWhiteSpace(entityType);
        using var activity = EmbeddingKitDiagnostics.ActivitySource.StartActivity("embeddingkit.search");
        activity?.SetTag("embeddingkit.entity_type", entityType);
        var writeModels = _queries.Registry.WriteModels;
        var defaultModel = model ?? (writeModels.Count > 0 ? writeModels[0] : null);
        var state = await ReadStateAsync(entityType, defaultModel, cancellationToken).ConfigureAwait(false);
        var active = model is null ? state.Active : null;
        var modelName = model ?? active?.Model ?? defaultModel
            ?? throw new ArgumentException($"No model is active for {entityType} and none was given.", nameof(model));
        if (!_queries.Registry.TryGet(modelName, out _))
        {
            throw new ArgumentException($"The model '{modelName}' is not registered in this process.", nameof(model));
        }

        // Coverage first, then the vector query: an entity embedded between the two is then still found by one of them.
        // Only entities the active model lacks call for a fallback; with none, the query is embedded once. They are
        // listed only when the state says some may be missing.
        var previous = active?.PreviousModel is { } p && _queries.Registry.TryGet(p, out _) ? p : null;
        var mayLack = model is null && (previous is not null || _lexical is not null) && state.MayLackVectors;
        var (uncovered, complete) = mayLack
            ? await _models.GetUncoveredAsync(entityType, modelName, active is { Coverage: < 1 } ? previous : null, _uncoveredLimit, cancellationToken).ConfigureAwait(false)
            : (new HashSet<string>(), true);
        if (entityIds is not null && complete)
        {
            uncovered = uncovered.Where(entityIds.Contains).ToHashSet(StringComparer.Ordinal);
        }

        IReadOnlyList<EmbeddingSearchHit> hits;
        try
        {
            hits = await VectorSearchAsync(modelName, query, entityType, k, path, entityIds, state, cancellationToken).ConfigureAwait(false);
        }
        catch (EmbeddingProviderException) when (_lexical is not null && model is null)
        {
            // The query cannot be embedded now (provider down or limiting): answer lexically rather than not at all.
            var ids = await _lexical.SearchAsync(query, entityType, k, cancellationToken).ConfigureAwait(false);
            return new EmbeddingSearchResult(entityType, modelName, [.. ids.Where(id => entityIds is null || entityIds.Contains(id)).Select((id, rank) => new EmbeddingSearchHit(id, 1.0 / (rank + 1), null, "fallback-lexical"))], true);
        }

        if (uncovered.Count == 0 || (previous is null && _lexical is null))
        {
            return new EmbeddingSearchResult(entityType, modelName, hits, false);
        }

        // Find, among the entities the active model lacks (all of them when their list is complete), candidates the
        // active model cannot. A failing fallback leaves the active model's hits, not a failed search.
        IReadOnlyList<EmbeddingSearchHit> fallback;
        try
        {
            if (previous is not null)
            {
                fallback = [.. (await VectorSearchAsync(previous, query, entityType, k, null, complete ? uncovered : entityIds, state, cancellationToken).ConfigureAwait(false))
                    .Select(h => h with { Path = "fallback-model" })];
            }
            else
            {
                var ids = await _lexical!.SearchAsync(query, entityType, k, cancellationToken).ConfigureAwait(false);
                fallback = [.. ids.Where(id => (entityIds is null || entityIds.Contains(id)) && (!complete || uncovered.Contains(id))).Select((id, rank) => new EmbeddingSearchHit(id, 1.0 / (rank + 1), null, "fallback-lexical"))];
            }
        }
        catch (EmbeddingKitException e)
        {
            return new EmbeddingSearchResult(entityType, modelName, hits, false) { FallbackError = e.Message };
        }

        if (fallback.Count == 0)
        {
            return new EmbeddingSearchResult(entityType, modelName, hits, false);
        }

        var lacking = fallback;
        if (!complete)
        {
            var covered = await _storage.GetStatesAsync(entityType, modelName, [.. fallback.Select(h => h.EntityId)], cancellationToken).ConfigureAwait(false);
            lacking = [.. fallback.Where(h => !covered.ContainsKey(h.EntityId))];
        }

        var merged = new List<EmbeddingSearchHit>(k);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; merged.Count < k && (i < hits.Count || i < lacking.Count); i++)
        {
            foreach (var hit in new[] { i < hits.Count ? hits[i] : null, i < lacking.Count ? lacking[i] : null })
            {
                if (hit is not null && merged.Count < k && seen.Add(hit.EntityId))
                {
                    merged.Add(hit);
                }
            }
        }

        return new EmbeddingSearchResult(entityType, modelName, merged, lacking.Count > 0);
    }

    private async ValueTask<IReadOnlyList<EmbeddingSearchHit>> VectorSearchAsync(
        string model, string query, string entityType, int k, SearchPath? path, IReadOnlyCollection<string>? entityIds, SearchModelState? state,
        CancellationToken cancellationToken)
    {
        var settings = state is not null && state.TryGetSettings(model, out var known)
            ? known
            : await _models.GetSearchSettingsAsync(model, cancellationToken).ConfigureAwait(false);
        var table = _storage.GetTable(model);
        var options = new VectorSearchOptions
        {
            K = k,
            Path = path ?? settings?.Path ?? VectorSearchDefaults.PathFor(table.Dimensions),
            Oversample = settings?.Oversample ?? VectorSearchDefaults.Oversample,
            EfSearch = settings?.EfSearch ?? VectorSearchDefaults.EfSearch,
            EntityType = entityType,
            EntityIds = entityIds,
        };
        var vector = await _queries.EmbedAsync(model, query, cancellationToken).ConfigureAwait(false);
        var result = await SearchOnReplicaFirstAsync(table, model, vector, options, cancellationToken).ConfigureAwait(false);
        var pathName = result.Path switch { SearchPath.Hnsw => "hnsw", SearchPath.Exact => "exact", _ => "two-stage" };
        return [.. result.Hits.Select(h => new EmbeddingSearchHit(h.EntityId, h.Score, model, pathName))];
    }

    private async ValueTask<SearchModelState> ReadStateAsync(string entityType, string? defaultModel, CancellationToken cancellationToken) => ActiveModels is { } cache
        ? await cache.GetAsync(entityType, defaultModel, cancellationToken).ConfigureAwait(false)
        : await _models.GetSearchStateAsync(entityType, defaultModel, cancellationToken).ConfigureAwait(false);

    private async ValueTask<VectorSearchResult> SearchOnReplicaFirstAsync(
        EmbeddingTable table, string model, ReadOnlyMemory<Half> vector, VectorSearchOptions options, CancellationToken cancellationToken)
    {
        if (ReadSearch is not null)
        {
            try
            {
                var replica = await ReadSearch.SearchAsync(table, model, vector, options, cancellationToken: cancellationToken).ConfigureAwait(false);
                if (replica.Hits.Count >= options.K)
                {
                    return replica;
                }
            }
            catch (NpgsqlException) when (!cancellationToken.IsCancellationRequested)
            {
                // The replica is down, lags behind a new model's table, or cancelled the query to replay: ask the primary.
            }
        }

        return await _search.SearchAsync(table, model, vector, options, cancellationToken: cancellationToken).ConfigureAwait(false);
    }
}
