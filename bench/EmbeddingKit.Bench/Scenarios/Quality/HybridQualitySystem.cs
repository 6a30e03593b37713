using System.Diagnostics;
using EmbeddingKit.Hosting;
using EmbeddingKit.Postgres;
using EmbeddingKit.Postgres.Migrations;
using EmbeddingKit.Postgres.Search;
using EmbeddingKit.Postgres.Storage;
using EmbeddingKit.Runtime;
using Microsoft.Extensions.DependencyInjection;

namespace EmbeddingKit.Bench.Scenarios.Quality;

/// <summary>
/// Hybrid search as a host composes it (<c>AddEmbeddingKit(...).UsePostgres(...)</c>, the registered
/// <see cref="EmbeddingSearchService"/>): the documents stored with their vectors and lexical documents in one write,
/// then each query searched on the model's saved vector path alone (<c>vector</c>, the setting <c>tune</c> saves), the
/// lexical index alone (<c>lexical</c>), fused with the default settings (<c>hybrid</c>: relative score fusion), with
/// reciprocal rank fusion's defaults (<c>hybrid_rrf</c>: k 60, both lists weighing 1) and fused with the settings
/// <see cref="HybridTuner"/> picks (<c>hybrid_tuned</c>). The tuner runs on every fifth pair's query; all four paths are
/// evaluated on the other pairs only, so the tuned row is not scored on the queries it was tuned on.
/// </summary>
internal sealed class HybridQualitySystem(EmbeddingModel model) : IQualitySystem
{
    private const string EntityType = "quality";

    private ServiceProvider? _services;
    private EmbeddingSearchService? _search;
    private LexicalIndex? _lexical;
    private EmbeddingSearchService? _everyMatch;
    private HybridSettings? _tuned;

    public string Name => "hybrid-" + model.Name;

    public IReadOnlyList<string> Paths { get; } = ["vector", "lexical", "lexical_every_match", "hybrid", "hybrid_rrf", "hybrid_every_match", "hybrid_tuned"];

    public bool Evaluates(int index) => index % 5 != 0;

    public async Task PrepareAsync(QualityContext context, IReadOnlyList<QualityPair> pairs, CancellationToken cancellationToken)
    {
        var schema = context.Schema + "_" + VectorQualitySystem.Key(Name).Replace('.', '_');
        await EmbeddingKitMigrations.ApplyAsync(context.DataSource, schema, cancellationToken);
        var services = new ServiceCollection();
        services.AddLogging();
        var documents = pairs.ToDictionary(p => p.Id, p => p.Document, StringComparer.Ordinal);
        services.AddEmbeddingKit(kit => kit
            .AddModel(model)
            .UseDocumentBuilder(new Documents(documents))
            .UsePostgres(context.DataSource, schema)
            .AddWorker(o =>
            {
                o.BatchSize = 64;
                o.Concurrency = 1;
                o.PollInterval = TimeSpan.FromMilliseconds(50);
                o.StatsInterval = TimeSpan.Zero;
            }));
        _services = services.BuildServiceProvider();
        var storage = _services.GetRequiredService<PgvectorEmbeddingStorage>();
        var table = storage.GetTable(model.Name);
        var indexes = _services.GetRequiredService<EmbeddingIndexManager>();
        await indexes.EnsureTableAsync(table, cancellationToken);

        // The user's write path: tasks enqueued, the worker builds each document, embeds it and stores the vector and
        // the lexical document in one write.
        var watch = Stopwatch.StartNew();
        await WorkerDrain.RunAsync(_services, EntityType, documents.Keys, "documents", cancellationToken);
        await indexes.EnsureModelIndexesAsync(table, model.Name, cancellationToken);
        foreach (var vacuumed in new[] { table.QualifiedName, PostgresIdentifier.Qualify(schema, "embeddingkit_lexical_documents") })
        {
            await using var command = context.DataSource.CreateCommand($"VACUUM ANALYZE {vacuumed}");
            await command.ExecuteNonQueryAsync(cancellationToken);
        }

        context.Figures[$"{VectorQualitySystem.Key(Name)}_store_docs_per_s"] = pairs.Count / watch.Elapsed.TotalSeconds;

        // The vector path search uses: what `tune` saves for the model.
        var store = _services.GetRequiredService<SearchModelStore>();
        var vectorTuning = await new SearchTuner(context.DataSource).TuneAsync(table, model.Name, new SearchTunerOptions { SampleSize = 100 }, cancellationToken);
        var r = vectorTuning.Recommendation;
        await store.SaveSearchSettingsAsync(model.Name, r.Path, r.Oversample, r.EfSearch, r.RecallAtK, cancellationToken);

        _search = _services.GetRequiredService<EmbeddingSearchService>();

        // The same service but ranking every lexical match (the code before LexicalRankLimit), side by side.
        _everyMatch = new EmbeddingSearchService(
            _services.GetRequiredService<QueryEmbedder>(), _services.GetRequiredService<PgvectorSearch>(), _services.GetRequiredService<SearchModelStore>(),
            storage, _services.GetService<ILexicalSearch>(), new EmbeddingSearchOptions { LexicalRankLimit = null });
        _lexical = _search.LexicalIndex ?? throw new InvalidOperationException("The composed search service has no lexical index.");
        var tuning = pairs.Where((_, i) => !Evaluates(i)).Select(p => new LabelledQuery(p.Query, [p.Id])).ToList();
        var tuner = new HybridTuner(_services.GetRequiredService<PgvectorSearch>(), _services.GetRequiredService<QueryEmbedder>(), store, _lexical);
        // --fusion-budget-ms: the tuner's latency budget (default: 1.5 times the vector path's p50, as `tune --queries`).
        var budget = context.Budget;
        var result = await tuner.TuneAsync(table, model.Name, tuning, new HybridTunerOptions { EntityType = EntityType, LatencyBudget = budget }, cancellationToken);
        _tuned = result.Recommendation;
        var key = VectorQualitySystem.Key(Name);
        context.Figures[$"{key}_tuned_relative_score"] = _tuned.Fusion == HybridFusion.RelativeScore ? 1 : 0;
        context.Figures[$"{key}_tuned_rrf_k"] = _tuned.RrfK;
        context.Figures[$"{key}_tuned_lexical_weight"] = _tuned.LexicalWeight;
        context.Figures[$"{key}_tuned_depth"] = _tuned.VectorDepth;
        context.Figures[$"{key}_tuned_on_queries"] = tuning.Count;
        context.Figures[$"{key}_tuning_vector_p50_ms"] = result.Vector.P50Milliseconds;
        context.Figures[$"{key}_tuning_hybrid_p50_ms"] = result.Rows.First(row => row.Settings == _tuned with { Mrr = null }).P50Milliseconds;
        context.Log.WriteLine($"  {Name}: vector path {r.Path} (oversample {r.Oversample}); fusion tuned on {tuning.Count} queries: {result.Reason}");
    }

    public async Task<IReadOnlyList<string>> SearchAsync(string path, string query, int k, CancellationToken cancellationToken)
    {
        var search = _search!;
        switch (path)
        {
            case "vector":
                return Ids(await search.SearchAsync(query, EntityType, k, cancellationToken: cancellationToken));
            case "lexical":
                return Ids(await search.SearchAsync(query, EntityType, k, path: SearchPath.Lexical, cancellationToken: cancellationToken));
            case "lexical_every_match":
                return Ids(await _everyMatch!.SearchAsync(query, EntityType, k, path: SearchPath.Lexical, cancellationToken: cancellationToken));
            case "hybrid":
                await SaveAsync(HybridSettings.Default, cancellationToken);
                return Ids(await search.SearchAsync(query, EntityType, k, path: SearchPath.Hybrid, cancellationToken: cancellationToken));
            case "hybrid_rrf":
                await SaveAsync(HybridSettings.ReciprocalRankDefault, cancellationToken);
                return Ids(await search.SearchAsync(query, EntityType, k, path: SearchPath.Hybrid, cancellationToken: cancellationToken));
            case "hybrid_every_match":
                await SaveAsync(HybridSettings.Default, cancellationToken);
                return Ids(await _everyMatch!.SearchAsync(query, EntityType, k, path: SearchPath.Hybrid, cancellationToken: cancellationToken));
            default:
                await SaveAsync(_tuned!, cancellationToken);
                return Ids(await search.SearchAsync(query, EntityType, k, path: SearchPath.Hybrid, cancellationToken: cancellationToken));
        }
    }

    /// <summary>
    /// Writes, per evaluated pair, the vector path's and the lexical path's first <paramref name="depth"/> hits as one
    /// JSON line (<c>quality --dump-lists FILE</c>): {"id", "query", "vector": [[id, similarity], ...], "lexical": [ids]},
    /// for studying fusion functions offline on the same lists the fused statement sees.
    /// </summary>
    public async Task DumpListsAsync(IReadOnlyList<QualityPair> pairs, string file, int depth, CancellationToken cancellationToken)
    {
        var search = _search!;
        await using var writer = new StreamWriter(file);
        foreach (var (pair, index) in pairs.Select((p, i) => (p, i)))
        {
            if (!Evaluates(index))
            {
                continue;
            }

            var vector = await search.SearchAsync(pair.Query, EntityType, depth, cancellationToken: cancellationToken);
            var lexical = await search.SearchAsync(pair.Query, EntityType, depth, path: SearchPath.Lexical, cancellationToken: cancellationToken);
            var line = new
            {
                id = pair.Id,
                query = pair.Query,
                vector = vector.Hits.Select(h => new object[] { h.EntityId, h.Score }),
                lexical = lexical.Hits.Select(h => h.EntityId),
            };
            await writer.WriteLineAsync(System.Text.Json.JsonSerializer.Serialize(line).AsMemory(), cancellationToken);
        }
    }

    // The search service reads the entity type's saved fusion settings: save the ones a path stands for when it changes.
    private HybridSettings? _saved;

    private async Task SaveAsync(HybridSettings settings, CancellationToken cancellationToken)
    {
        if (_saved != settings)
        {
            await _lexical!.SaveHybridSettingsAsync(EntityType, settings, cancellationToken);
            _saved = settings;
        }
    }

    private static IReadOnlyList<string> Ids(EmbeddingSearchResult result) => [.. result.Hits.Select(h => h.EntityId)];

    private sealed class Documents(Dictionary<string, string> texts) : IDocumentBuilder
    {
        public ValueTask<IReadOnlyDictionary<string, DocumentResult>> BuildAsync(string entityType, IReadOnlyList<string> entityIds, CancellationToken cancellationToken = default)
        {
            IReadOnlyDictionary<string, DocumentResult> result = entityIds.ToDictionary(
                id => id, id => texts.TryGetValue(id, out var text) ? DocumentResult.Text(text) : DocumentResult.Gone, StringComparer.Ordinal);
            return ValueTask.FromResult(result);
        }
    }
}
