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
/// <para>Scores of different models are not comparable, so the previous model's hits (and the lexical index's) are fused
/// with the active model's by reciprocal rank fusion in the same statement (<see cref="PgvectorSearch.HybridSearchAsync"/>),
/// each list ranking only the entities the active model lacks; a fused hit's score is its RRF score. A host's
/// <see cref="ILexicalSearch"/> returns ids without ranks the database could fuse, so its hits are interleaved by rank.
/// Fused searches (hybrid, lexical, a rollout's fallback) run on the primary.</para>
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
    private readonly ChunkGrouping _grouping;
    private readonly int? _lexicalRankLimit;

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
        _grouping = options?.Grouping ?? ChunkGrouping.BestChunk;
        _lexicalRankLimit = options is null ? HybridSearchDefaults.LexicalRankLimit : options.LexicalRankLimit;
    }

    /// <summary>Gets the cache of the active model, settings and coverage (reads them from the primary before every
    /// search when null).</summary>
    public ActiveModelCache? ActiveModels { get; init; }

    /// <summary>Gets the host's documents table, from which every search path (vector, fused, lexical) returns each hit's
    /// text in its own round trip (<see cref="EmbeddingSearchHit.Text"/>), or null (the default) for none.</summary>
    public DocumentTextSource? DocumentTexts { get; init; }

    /// <summary>Gets the search over a read replica that vector queries run on first, when given (see the remarks).</summary>
    public PgvectorSearch? ReadSearch { get; init; }

    /// <summary>Gets the lexical index that <see cref="SearchPath.Hybrid"/> and <see cref="SearchPath.Lexical"/> search,
    /// and that answers for entities the active model lacks when there is neither a previous model nor a host
    /// <see cref="ILexicalSearch"/>. Default: the index the storage writes (<see cref="PgvectorEmbeddingStorage.LexicalSchema"/>),
    /// or none.</summary>
    public LexicalIndex? LexicalIndex
    {
        get => field ??= _storage.LexicalSchema is { } schema ? new LexicalIndex(_storage.DataSource, schema) : null;
        init;
    }

    /// <summary>Searches an entity type.</summary>
    /// <param name="query">The query text.</param>
    /// <param name="entityType">The entity type.</param>
    /// <param name="k">How many hits (1 to 1,000).</param>
    /// <param name="model">A model to use instead of the active one (no fallback then).</param>
    /// <param name="path">A path to use instead of the model's saved one: a vector path, <see cref="SearchPath.Hybrid"/>
    /// (the model's saved vector path fused with the lexical index, by the entity type's saved
    /// <see cref="HybridSettings"/>) or <see cref="SearchPath.Lexical"/> (the lexical index alone).</param>
    /// <param name="entityIds">Only these entities (an allow-list filter), when given.</param>
    /// <param name="cancellationToken">Cancels the search.</param>
    /// <remarks>When embedding the query fails with an <see cref="EmbeddingProviderException"/> and a lexical search was
    /// given (or the storage keeps a lexical index), the answer comes from the lexical search alone
    /// (<see cref="EmbeddingSearchResult.FallbackUsed"/>).</remarks>
    /// <exception cref="ArgumentException">No model is active for the entity type and none was given, or the model is not
    /// registered in this process.</exception>
    /// <exception cref="InvalidOperationException">A hybrid or lexical search without a lexical index.</exception>
    public async ValueTask<EmbeddingSearchResult> SearchAsync(
        string query, string entityType, int k = 10, string? model = null, SearchPath? path = null, IReadOnlyCollection<string>? entityIds = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(query);
        ArgumentException.ThrowIfNullOrWhiteSpace(entityType);
        var index = path is SearchPath.Hybrid or SearchPath.Lexical
            ? LexicalIndex ?? throw new InvalidOperationException("Hybrid and lexical search need a lexical index: a storage with LexicalSchema set, or LexicalIndex.")
            : null;
        using var activity = EmbeddingKitDiagnostics.ActivitySource.StartActivity("embeddingkit.search");
        activity?.SetTag("embeddingkit.entity_type", entityType);
        var writeModels = _queries.Registry.WriteModels;
        var defaultModel = model ?? (writeModels.Count > 0 ? writeModels[0] : null);
        if (path == SearchPath.Lexical)
        {
            var settings = await FusionSettingsAsync(index!, await ReadStateAsync(entityType, defaultModel, cancellationToken).ConfigureAwait(false), cancellationToken).ConfigureAwait(false);
            var lexicalHits = await FuseAsync([], query, index, k, settings, entityType, entityIds, lexicalOnlyLacking: false, cancellationToken).ConfigureAwait(false);
            return new EmbeddingSearchResult(entityType, defaultModel ?? string.Empty, [.. lexicalHits.Select(h => Hit(h, null, null, "lexical"))], false);
        }

        var state = await ReadStateAsync(entityType, defaultModel, cancellationToken).ConfigureAwait(false);
        var active = model is null ? state.Active : null;
        var modelName = model ?? active?.Model ?? defaultModel
            ?? throw new ArgumentException($"No model is active for {entityType} and none was given.", nameof(model));
        if (!_queries.Registry.TryGet(modelName, out _))
        {
            throw new ArgumentException($"The model '{modelName}' is not registered in this process.", nameof(model));
        }

        // Coverage first, then the fused query: an entity embedded between the two is then still found by one of them.
        // Only entities the active model lacks call for a fallback; with none, the query is embedded once. They are
        // listed only when the state says some may be missing.
        var previous = active?.PreviousModel is { } p && _queries.Registry.TryGet(p, out _) ? p : null;
        var mayLack = model is null && (previous is not null || _lexical is not null || LexicalIndex is not null) && state.MayLackVectors;
        var (uncovered, complete) = mayLack
            ? await _models.GetUncoveredAsync(entityType, modelName, active is { Coverage: < 1 } ? previous : null, _uncoveredLimit, cancellationToken).ConfigureAwait(false)
            : (new HashSet<string>(), true);
        if (entityIds is not null && complete)
        {
            uncovered = uncovered.Where(entityIds.Contains).ToHashSet(StringComparer.Ordinal);
        }

        var hybrid = path == SearchPath.Hybrid;
        var fusion = hybrid ? await FusionSettingsAsync(index!, state, cancellationToken).ConfigureAwait(false) : HybridSettings.Default;
        HybridVectorList primary;
        try
        {
            primary = await VectorListAsync(modelName, query, hybrid ? null : path, null, state, cancellationToken).ConfigureAwait(false);
        }
        catch (EmbeddingProviderException) when (model is null && (_lexical is not null || LexicalIndex is not null))
        {
            // The query cannot be embedded now (provider down or limiting): answer lexically rather than not at all.
            if (_lexical is null)
            {
                var lexicalHits = await FuseAsync([], query, LexicalIndex, k, fusion, entityType, entityIds, lexicalOnlyLacking: false, cancellationToken).ConfigureAwait(false);
                return new EmbeddingSearchResult(entityType, modelName, [.. lexicalHits.Select(h => Hit(h, null, null, "fallback-lexical"))], true);
            }

            var ids = await _lexical.SearchAsync(query, entityType, k, cancellationToken).ConfigureAwait(false);
            return new EmbeddingSearchResult(entityType, modelName, [.. ids.Where(id => entityIds is null || entityIds.Contains(id)).Select((id, rank) => new EmbeddingSearchHit(id, 1.0 / (rank + 1), null, "fallback-lexical"))], true);
        }

        var vectorPath = PathName(primary.Path);
        if (uncovered.Count == 0 || (previous is null && _lexical is null && LexicalIndex is null))
        {
            if (!hybrid)
            {
                return new EmbeddingSearchResult(entityType, modelName, await VectorSearchAsync(primary, k, entityType, entityIds, cancellationToken).ConfigureAwait(false), false);
            }

            var fused = await FuseAsync([primary], query, index, k, fusion, entityType, entityIds, lexicalOnlyLacking: false, cancellationToken).ConfigureAwait(false);
            return new EmbeddingSearchResult(entityType, modelName, [.. fused.Select(h => Hit(h, modelName, null, "hybrid"))], false);
        }

        // Entities the active model lacks: the previous model ranks them (only them) as another list of the fusion; with
        // no previous model, the lexical index does (or the host's lexical search, interleaved by rank). A failing
        // fallback leaves the active model's hits, not a failed search.
        if (previous is not null)
        {
            HybridVectorList? fallbackList = null;
            string? fallbackError = null;
            try
            {
                fallbackList = await VectorListAsync(previous, query, null, primary, state, cancellationToken).ConfigureAwait(false);
            }
            catch (EmbeddingKitException e)
            {
                fallbackError = e.Message;
            }

            var lists = fallbackList is null ? new[] { primary } : new[] { primary, fallbackList };
            var fused = await FuseAsync(lists, query, hybrid ? index : null, k, fusion, entityType, entityIds, lexicalOnlyLacking: false, cancellationToken).ConfigureAwait(false);
            var hits = fused.Select(h => Hit(h, modelName, previous, hybrid ? "hybrid" : vectorPath)).ToList();
            return new EmbeddingSearchResult(entityType, modelName, hits, fused.Any(h => h.VectorRank is null && h.FallbackRank is not null)) { FallbackError = fallbackError };
        }

        if (_lexical is null)
        {
            var fused = await FuseAsync([primary], query, LexicalIndex, k, fusion, entityType, entityIds, lexicalOnlyLacking: !hybrid, cancellationToken).ConfigureAwait(false);
            var hits = fused.Select(h => Hit(h, modelName, null, hybrid ? "hybrid" : vectorPath)).ToList();
            return new EmbeddingSearchResult(entityType, modelName, hits, !hybrid && fused.Any(h => h.VectorRank is null));
        }

        var own = hybrid
            ? [.. (await FuseAsync([primary], query, index, k, fusion, entityType, entityIds, lexicalOnlyLacking: false, cancellationToken).ConfigureAwait(false)).Select(h => Hit(h, modelName, null, "hybrid"))]
            : await VectorSearchAsync(primary, k, entityType, entityIds, cancellationToken).ConfigureAwait(false);
        IReadOnlyList<EmbeddingSearchHit> fallback;
        try
        {
            var ids = await _lexical.SearchAsync(query, entityType, k, cancellationToken).ConfigureAwait(false);
            fallback = [.. ids.Where(id => (entityIds is null || entityIds.Contains(id)) && (!complete || uncovered.Contains(id))).Select((id, rank) => new EmbeddingSearchHit(id, 1.0 / (rank + 1), null, "fallback-lexical"))];
        }
        catch (EmbeddingKitException e)
        {
            return new EmbeddingSearchResult(entityType, modelName, own, false) { FallbackError = e.Message };
        }

        if (fallback.Count == 0)
        {
            return new EmbeddingSearchResult(entityType, modelName, own, false);
        }

        var lacking = fallback;
        if (!complete)
        {
            var covered = await _storage.GetStatesAsync(entityType, modelName, [.. fallback.Select(h => h.EntityId)], cancellationToken).ConfigureAwait(false);
            lacking = [.. fallback.Where(h => !covered.ContainsKey(h.EntityId))];
        }

        // A host's lexical search returns ids, not ranks the database can fuse: interleaved by rank.
        var merged = new List<EmbeddingSearchHit>(k);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; merged.Count < k && (i < own.Count || i < lacking.Count); i++)
        {
            foreach (var hit in new[] { i < own.Count ? own[i] : null, i < lacking.Count ? lacking[i] : null })
            {
                if (hit is not null && merged.Count < k && seen.Add(hit.EntityId))
                {
                    merged.Add(hit);
                }
            }
        }

        return new EmbeddingSearchResult(entityType, modelName, merged, lacking.Count > 0);
    }

    private static EmbeddingSearchHit Hit(HybridSearchHit hit, string? model, string? fallbackModel, string path)
    {
        var (hitModel, hitPath) = hit.VectorRank is not null ? (model, path)
            : hit.FallbackRank is not null ? (fallbackModel, path == "hybrid" ? path : "fallback-model")
            : (null, path is "hybrid" or "lexical" or "fallback-lexical" ? path : "fallback-lexical");
        return new EmbeddingSearchHit(hit.EntityId, hit.Score, hitModel, hitPath)
        {
            VectorRank = hit.VectorRank,
            FallbackRank = hit.FallbackRank,
            LexicalRank = hit.LexicalRank,
            Chunk = hit.Chunk,
            SnippetStart = hit.ChunkStart,
            SnippetLength = hit.ChunkLength,
            Text = hit.Text,
        };
    }

    private ValueTask<IReadOnlyList<HybridSearchHit>> FuseAsync(
        IReadOnlyList<HybridVectorList> lists, string query, LexicalIndex? index, int k, HybridSettings settings, string entityType,
        IReadOnlyCollection<string>? entityIds, bool lexicalOnlyLacking, CancellationToken cancellationToken) =>
        _search.HybridSearchAsync(
            lists, index is null ? null : query, index,
            new HybridSearchOptions
            {
                K = k,
                Settings = settings with { VectorDepth = Math.Max(settings.VectorDepth, k), LexicalDepth = Math.Max(settings.LexicalDepth, k) },
                EntityType = entityType,
                EntityIds = entityIds,
                LexicalOnlyLacking = lexicalOnlyLacking,
                LexicalRankLimit = _lexicalRankLimit,
                Texts = DocumentTexts,
            },
            cancellationToken: cancellationToken);

    private static string PathName(SearchPath path) => path switch { SearchPath.Hnsw => "hnsw", SearchPath.Exact => "exact", _ => "two-stage" };

    /// <summary>Embeds the query with a model and returns its vector list on the model's saved (or the given) path; a
    /// fallback model's list ranks only the entities <paramref name="lackingFrom"/>'s model has no vector for.</summary>
    private async ValueTask<HybridVectorList> VectorListAsync(
        string model, string query, SearchPath? path, HybridVectorList? lackingFrom, SearchModelState? state, CancellationToken cancellationToken)
    {
        var settings = state is not null && state.TryGetSettings(model, out var known)
            ? known
            : await _models.GetSearchSettingsAsync(model, cancellationToken).ConfigureAwait(false);
        var table = _storage.GetTable(model);
        var vector = await _queries.EmbedAsync(model, query, cancellationToken).ConfigureAwait(false);
        return new HybridVectorList(table, model, vector)
        {
            Path = path ?? settings?.Path ?? VectorSearchDefaults.PathFor(table.Dimensions),
            Oversample = settings?.Oversample ?? VectorSearchDefaults.Oversample,
            EfSearch = settings?.EfSearch ?? VectorSearchDefaults.EfSearch,
            LackingModel = lackingFrom?.Model,
            LackingTable = lackingFrom?.Table,
        };
    }

    private async ValueTask<IReadOnlyList<EmbeddingSearchHit>> VectorSearchAsync(
        HybridVectorList list, int k, string entityType, IReadOnlyCollection<string>? entityIds, CancellationToken cancellationToken)
    {
        var options = new VectorSearchOptions
        {
            K = k,
            Path = list.Path,
            Oversample = list.Oversample,
            EfSearch = list.EfSearch,
            EntityType = entityType,
            EntityIds = entityIds,
            Grouping = _grouping,
            Texts = DocumentTexts,
        };
        var result = await SearchOnReplicaFirstAsync(list.Table, list.Model, list.Query, options, cancellationToken).ConfigureAwait(false);
        var pathName = PathName(result.Path);
        return [.. result.Hits.Select(h => new EmbeddingSearchHit(h.EntityId, h.Score, list.Model, pathName) { Chunk = h.Chunk, SnippetStart = h.ChunkStart, SnippetLength = h.ChunkLength, Text = h.Text })];
    }

    /// <summary>The entity type's saved fusion settings: from its search state (no round trip of their own) when the
    /// lexical index lives in the state's schema, as composed by <c>UsePostgres</c>; else read from the index.</summary>
    private async ValueTask<HybridSettings> FusionSettingsAsync(LexicalIndex index, SearchModelState state, CancellationToken cancellationToken) =>
        string.Equals(index.Schema, _models.Schema, StringComparison.Ordinal)
            ? state.Hybrid ?? HybridSettings.Default
            : await index.GetHybridSettingsAsync(state.EntityType, cancellationToken).ConfigureAwait(false) ?? HybridSettings.Default;

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
