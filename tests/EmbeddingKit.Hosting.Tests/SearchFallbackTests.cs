using EmbeddingKit.TestInfrastructure.FakeProvider;
using EmbeddingKit.TestInfrastructure.Postgres;

namespace EmbeddingKit.Hosting.Tests;

/// <summary>The search fallback to the previous model after a switch: only for entities the active model lacks, and never
/// a failed search because the previous model's provider fails. The previous model runs on its own fake provider, so its
/// requests can be counted and failed.</summary>
public sealed class SearchFallbackTests(PostgresServer server) : IAsyncLifetime
{
    private const string Type = EmbeddingStack.EntityType;
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static IReadOnlyDictionary<string, string> Articles => EmbeddingStack.Articles;

    private FakeEmbeddingServer _previousProvider = null!;
    private EmbeddingStack _stack = null!;

    public async ValueTask InitializeAsync()
    {
        _previousProvider = await FakeEmbeddingServer.StartAsync(Ct);
        _previousProvider.Dimensions = 64;
        _stack = await EmbeddingStack.CreateAsync(server, p => [EmbeddingStack.Model(_previousProvider, "model-a", 64), EmbeddingStack.Model(p, "model-b", 64)], Ct);
        foreach (var (id, text) in Articles)
        {
            _stack.Documents.Texts[id] = text;
        }

        // model-a embeds everything and is active; then model-b, for the ids given by each test.
        await _stack.Runtime.EnqueueTextEmbeddingAsync(Type, Articles.Keys, ["model-a"], cancellationToken: Ct);
        await _stack.DrainAsync(Ct);
        await _stack.Rollout.ActivateAsync(Type, "model-a", Articles.Count, cancellationToken: Ct);
    }

    public async ValueTask DisposeAsync()
    {
        await _stack.DisposeAsync();
        await _previousProvider.DisposeAsync();
    }

    // model-b has embedded articles 1-3, is activated by force, and has 4-6 waiting in the queue.
    private async Task SwitchToModelBWithHalfEmbeddedAsync()
    {
        await _stack.Runtime.EnqueueTextEmbeddingAsync(Type, ["1", "2", "3"], ["model-b"], cancellationToken: Ct);
        await _stack.DrainAsync(Ct);
        await _stack.Rollout.ActivateAsync(Type, "model-b", Articles.Count, force: true, cancellationToken: Ct);
        await _stack.Runtime.EnqueueTextEmbeddingAsync(Type, ["4", "5", "6"], ["model-b"], cancellationToken: Ct);
    }

    [Fact]
    public async Task SearchAsync_OutstandingAndDeadTasksOfCoveredEntities_EmbedsTheQueryOnlyWithTheActiveModel()
    {
        await _stack.Runtime.EnqueueTextEmbeddingAsync(Type, Articles.Keys, ["model-b"], cancellationToken: Ct);
        await _stack.DrainAsync(Ct);
        await _stack.Rollout.ActivateAsync(Type, "model-b", Articles.Count, cancellationToken: Ct);

        // Live edits: article 1 is waiting for its new vector, article 2's re-embedding died; both keep their model-b vector.
        _stack.Documents.Texts["1"] += " (edited)";
        _stack.Documents.Texts["2"] += " (edited)";
        await _stack.Runtime.EnqueueTextEmbeddingAsync(Type, ["1", "2"], ["model-b"], cancellationToken: Ct);
        await _stack.ScalarAsync<int>("""
            WITH gone AS (DELETE FROM {s}.embeddingkit_embedding_tasks WHERE entity_id = '2' RETURNING *)
            INSERT INTO {s}.embeddingkit_embedding_tasks_dead (entity_type, entity_id, model, kind, priority, generation, attempts, deferrals, error, first_enqueued_at)
            SELECT entity_type, entity_id, model, kind, priority, generation, attempts, deferrals, 'provider said no', first_enqueued_at FROM gone RETURNING 1
            """);
        _previousProvider.ResetCounters();

        var result = await _stack.Search.SearchAsync(Articles["5"], Type, k: 4, cancellationToken: Ct);

        Assert.Equal(0, _previousProvider.RequestCount);
        Assert.False(result.FallbackUsed);
        Assert.All(result.Hits, h => Assert.Equal("model-b", h.Model));
        Assert.Equal("5", result.Hits[0].EntityId);
    }

    [Fact]
    public async Task SearchAsync_EntitiesTheActiveModelLacks_ComeFromThePreviousModel()
    {
        await SwitchToModelBWithHalfEmbeddedAsync();
        _previousProvider.ResetCounters();

        var result = await _stack.Search.SearchAsync(Articles["5"], Type, k: 4, cancellationToken: Ct);

        Assert.True(result.FallbackUsed);
        Assert.Equal(1, _previousProvider.RequestCount);
        Assert.Contains(result.Hits, h => h.EntityId == "5" && h.Model == "model-a" && h.Path == "fallback-model");
        Assert.All(result.Hits.Where(h => h.Model == "model-a"), h => Assert.Contains(h.EntityId, new[] { "4", "5", "6" }));
        Assert.All(result.Hits.Where(h => h.Model == "model-b"), h => Assert.Contains(h.EntityId, new[] { "1", "2", "3" }));
    }

    [Fact]
    public async Task SearchAsync_PreviousModelsProviderFails_AnswersWithTheActiveModelsHits()
    {
        await SwitchToModelBWithHalfEmbeddedAsync();
        _previousProvider.SetFaultRate(FakeFault.Unauthorized, 1.0);

        var result = await _stack.Search.SearchAsync(Articles["2"], Type, k: 4, cancellationToken: Ct);

        Assert.False(result.FallbackUsed);
        Assert.Equal(["1", "2", "3"], result.Hits.Select(h => h.EntityId).Order(StringComparer.Ordinal));
        Assert.Equal("2", result.Hits[0].EntityId);
        Assert.All(result.Hits, h => Assert.Equal("model-b", h.Model));
        Assert.NotNull(result.FallbackError);
        Assert.Contains("model-a", result.FallbackError, StringComparison.Ordinal);
        Assert.DoesNotContain("test-key", result.FallbackError, StringComparison.Ordinal);
    }
}
