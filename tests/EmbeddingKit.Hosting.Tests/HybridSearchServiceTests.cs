using EmbeddingKit.Postgres.Search;
using EmbeddingKit.TestInfrastructure.FakeProvider;
using EmbeddingKit.TestInfrastructure.Postgres;

namespace EmbeddingKit.Hosting.Tests;

/// <summary>Hybrid and lexical search through the search service, with the lexical index the storage keeps: fresh after
/// an edit and a delete on both sides, skipped for unchanged content, and the answer when the provider is down.</summary>
public sealed class HybridSearchServiceTests(PostgresServer server) : IAsyncLifetime
{
    private const string Type = EmbeddingStack.EntityType;
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static IReadOnlyDictionary<string, string> Articles => EmbeddingStack.Articles;

    private EmbeddingStack _stack = null!;

    public async ValueTask InitializeAsync()
    {
        _stack = await EmbeddingStack.CreateAsync(server, cancellationToken: Ct);
        foreach (var (id, text) in Articles)
        {
            _stack.Documents.Texts[id] = text;
        }

        await _stack.Runtime.EnqueueTextEmbeddingAsync(Type, Articles.Keys, cancellationToken: Ct);
        await _stack.DrainAsync(Ct);
        await _stack.Rollout.ActivateAsync(Type, "model-a", Articles.Count, cancellationToken: Ct);
    }

    public async ValueTask DisposeAsync() => await _stack.DisposeAsync();

    [Fact]
    public async Task SearchAsync_HybridAfterAnEditAndADeleteAreProcessed_BothSidesReflectThem()
    {
        _stack.Documents.Texts["2"] = "Zebras migrate across the Serengeti every year";
        _stack.Documents.Texts.TryRemove("3", out _);
        await _stack.Runtime.EnqueueTextEmbeddingAsync(Type, ["2", "3"], cancellationToken: Ct);
        await _stack.DrainAsync(Ct);

        var edited = await _stack.Search.SearchAsync(_stack.Documents.Texts["2"], Type, k: 3, path: SearchPath.Hybrid, cancellationToken: Ct);
        var oldWords = await _stack.Search.SearchAsync("quantization", Type, k: 6, path: SearchPath.Lexical, cancellationToken: Ct);
        var deleted = await _stack.Search.SearchAsync(Articles["3"], Type, k: 6, path: SearchPath.Hybrid, cancellationToken: Ct);

        var top = edited.Hits[0];
        Assert.Equal("2", top.EntityId);
        Assert.Equal("hybrid", top.Path);
        Assert.Equal(1, top.VectorRank); // the new vector: the query is the new text
        Assert.Equal(1, top.LexicalRank); // the new words
        Assert.Empty(oldWords.Hits); // the old words are gone from the lexical side
        Assert.DoesNotContain(deleted.Hits, h => h.EntityId == "3");
        Assert.Equal(5L, await _stack.ScalarAsync<long>("SELECT count(*) FROM {s}.embeddingkit_lexical_documents"));
    }

    [Fact]
    public async Task SearchAsync_FusionSettingsSavedInThisProcess_TheNextHybridSearchUsesThem()
    {
        // The saved settings come with the cached search state; saving through another LexicalIndex (as the tuner does)
        // drops this process's cached state at once, without waiting for the notification.
        Assert.NotNull(_stack.Search.ActiveModels);
        var before = await _stack.Search.SearchAsync(Articles["2"], Type, k: 10, path: SearchPath.Hybrid, cancellationToken: Ct);
        var cached = await _stack.Search.ActiveModels!.GetAsync(Type, "model-a", Ct);

        var reciprocalRank = new HybridSettings(1, 1.0, 1.0, 40, 40) { Fusion = HybridFusion.ReciprocalRank };
        await new LexicalIndex(_stack.DataSource, _stack.Schema).SaveHybridSettingsAsync(Type, reciprocalRank, Ct);
        var after = await _stack.Search.SearchAsync(Articles["2"], Type, k: 10, path: SearchPath.Hybrid, cancellationToken: Ct);

        // The top hit is first on both sides. Relative score (the default): 1 (the vector list's nearest) + 0.5 x 1 (the
        // lexical list's first, 1 / log2(2)). RRF with k = 1: 1/(1 + 1) per side.
        Assert.Null(cached.Hybrid);
        Assert.Equal("2", before.Hits[0].EntityId);
        Assert.Equal(1, before.Hits[0].VectorRank);
        Assert.Equal(1, before.Hits[0].LexicalRank);
        Assert.Equal(1.5, before.Hits[0].Score, 1e-9);
        Assert.Equal("2", after.Hits[0].EntityId);
        Assert.Equal(1.0, after.Hits[0].Score, 1e-9);
        Assert.Equal(reciprocalRank, (await _stack.Search.ActiveModels.GetAsync(Type, "model-a", Ct)).Hybrid);
    }

    [Fact]
    public async Task SearchAsync_Lexical_AnswersWithoutEmbeddingTheQuery()
    {
        _stack.Provider.ResetCounters();

        var result = await _stack.Search.SearchAsync("SKIP LOCKED", Type, k: 3, path: SearchPath.Lexical, cancellationToken: Ct);

        Assert.Equal(0, _stack.Provider.RequestCount);
        var hit = Assert.Single(result.Hits);
        Assert.Equal(("3", "lexical", 1), (hit.EntityId, hit.Path, hit.LexicalRank!.Value));
        Assert.Null(hit.Model);
    }

    [Fact]
    public async Task EnqueueAgain_UnchangedContent_SkipsTheLexicalWriteButRestoresAMissingDocument()
    {
        await _stack.ScalarAsync<int>("UPDATE {s}.embeddingkit_lexical_documents SET updated_at = '2000-01-01' WHERE entity_id <> '4' RETURNING 1");
        await _stack.ScalarAsync<int>("DELETE FROM {s}.embeddingkit_lexical_documents WHERE entity_id = '4' RETURNING 1");
        _stack.Provider.ResetCounters();

        await _stack.Runtime.EnqueueTextEmbeddingAsync(Type, Articles.Keys, cancellationToken: Ct);
        await _stack.DrainAsync(Ct);

        Assert.Equal(0, _stack.Provider.InputCount);
        Assert.Equal(5L, await _stack.ScalarAsync<long>("SELECT count(*) FROM {s}.embeddingkit_lexical_documents WHERE updated_at = '2000-01-01'"));
        var restored = await _stack.Search.SearchAsync("rate limits", Type, k: 3, path: SearchPath.Lexical, cancellationToken: Ct);
        Assert.Equal("4", restored.Hits[0].EntityId);
    }

    [Fact]
    public async Task SearchAsync_ProviderDown_AnswersFromTheLexicalIndex()
    {
        _stack.Provider.SetFaultRate(FakeFault.Unauthorized, 1.0);

        var result = await _stack.Search.SearchAsync("half precision storage", Type, k: 3, cancellationToken: Ct);

        Assert.True(result.FallbackUsed);
        var hit = Assert.Single(result.Hits);
        Assert.Equal(("5", "fallback-lexical"), (hit.EntityId, hit.Path));
    }

    [Fact]
    public async Task SearchAsync_EntitiesNotEmbeddedYet_ComeFromTheLexicalIndexInTheFusion()
    {
        _stack.Documents.Texts["7"] = "Sourdough bread needs a lively starter";
        await _stack.Runtime.EnqueueTextEmbeddingAsync(Type, ["7"], cancellationToken: Ct); // not drained: no vector, no document
        await _stack.ScalarAsync<int>("""
            INSERT INTO {s}.embeddingkit_lexical_documents (entity_type, entity_id, document, generation)
            VALUES ('article', '7', to_tsvector('english', 'Sourdough bread needs a lively starter'), 0) RETURNING 1
            """);

        var result = await _stack.Search.SearchAsync("sourdough starter", Type, k: 10, cancellationToken: Ct);

        Assert.True(result.FallbackUsed);
        var lexical = Assert.Single(result.Hits, h => h.EntityId == "7");
        Assert.Equal(("fallback-lexical", 1, (int?)null), (lexical.Path, lexical.LexicalRank!.Value, lexical.VectorRank));
        Assert.All(result.Hits.Where(h => h.EntityId != "7"), h => Assert.Equal(("model-a", "hnsw"), (h.Model, h.Path)));
    }
}
