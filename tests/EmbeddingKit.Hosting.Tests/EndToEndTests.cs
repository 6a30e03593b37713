using EmbeddingKit.Postgres.Rollout;
using EmbeddingKit.Tasks;
using EmbeddingKit.TestInfrastructure.Postgres;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Options;

namespace EmbeddingKit.Hosting.Tests;

public sealed class EndToEndTests(PostgresServer server)
{
    private const string Type = EmbeddingStack.EntityType;
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static IReadOnlyDictionary<string, string> Articles => EmbeddingStack.Articles;

    private static void Load(EmbeddingStack stack)
    {
        foreach (var (id, text) in Articles)
        {
            stack.Documents.Texts[id] = text;
        }
    }

    [Fact]
    public async Task EnqueueThenDrain_NewArticles_AreStoredAsNormalizedHalfvecAndFoundBySearch()
    {
        await using var stack = await EmbeddingStack.CreateAsync(server, cancellationToken: Ct);
        Load(stack);

        await stack.Runtime.EnqueueTextEmbeddingAsync(Type, Articles.Keys, cancellationToken: Ct);
        await stack.DrainAsync(Ct);

        Assert.Equal(6L, await stack.ScalarAsync<long>("SELECT count(*) FROM {s}.embeddingkit_embeddings_64 WHERE model = 'model-a'"));
        Assert.Equal("halfvec", await stack.ScalarAsync<string>("SELECT pg_typeof(embedding)::text FROM {s}.embeddingkit_embeddings_64 LIMIT 1"));
        var norm = await stack.ScalarAsync<double>("SELECT max(abs(1 - l2_norm(embedding))) FROM {s}.embeddingkit_embeddings_64");
        Assert.InRange(norm, 0, 2e-3);
        Assert.Equal(0L, await stack.QueueAdmin.CountOutstandingAsync(["model-a"], Ct));

        var result = await stack.Search.SearchAsync(Articles["3"], Type, k: 3, cancellationToken: Ct);

        var top = result.Hits[0];
        Assert.Equal("3", top.EntityId);
        Assert.Equal("model-a", top.Model);
        Assert.Equal("hnsw", top.Path); // 64 dimensions, no saved settings: below 1,024 binary quantization is not the default
        Assert.InRange(top.Score, 0.99, 1.001);
    }

    [Fact]
    public async Task EnqueueAgain_UnchangedContent_IsNotSentToTheProviderButChangedContentIs()
    {
        await using var stack = await EmbeddingStack.CreateAsync(server, cancellationToken: Ct);
        Load(stack);
        await stack.Runtime.EnqueueTextEmbeddingAsync(Type, Articles.Keys, cancellationToken: Ct);
        await stack.DrainAsync(Ct);
        var firstInputs = stack.Provider.InputCount;

        await stack.Runtime.EnqueueTextEmbeddingAsync(Type, Articles.Keys, cancellationToken: Ct);
        await stack.DrainAsync(Ct);
        var afterUnchanged = stack.Provider.InputCount;
        stack.Documents.Texts["2"] = "Binary quantization keeps one bit per dimension";
        await stack.Runtime.EnqueueTextEmbeddingAsync(Type, Articles.Keys, cancellationToken: Ct);
        await stack.DrainAsync(Ct);

        Assert.Equal(6, firstInputs);
        Assert.Equal(firstInputs, afterUnchanged);
        Assert.Equal(firstInputs + 1, stack.Provider.InputCount);
        Assert.Equal(0L, await stack.QueueAdmin.CountOutstandingAsync(["model-a"], Ct));
        Assert.Equal("2", (await stack.Search.SearchAsync("Binary quantization keeps one bit per dimension", Type, 1, cancellationToken: Ct)).Hits[0].EntityId);
    }

    [Fact]
    public async Task Drain_EntityDeleted_RemovesItsStoredEmbedding()
    {
        await using var stack = await EmbeddingStack.CreateAsync(server, cancellationToken: Ct);
        Load(stack);
        await stack.Runtime.EnqueueTextEmbeddingAsync(Type, Articles.Keys, cancellationToken: Ct);
        await stack.DrainAsync(Ct);

        stack.Documents.Texts.TryRemove("4", out _);
        await stack.Runtime.EnqueueTextEmbeddingAsync(Type, ["4"], cancellationToken: Ct);
        await stack.DrainAsync(Ct);

        Assert.Equal(0L, await stack.ScalarAsync<long>("SELECT count(*) FROM {s}.embeddingkit_embeddings_64 WHERE entity_id = '4'"));
        Assert.Equal(5L, await stack.ScalarAsync<long>("SELECT count(*) FROM {s}.embeddingkit_embeddings_64"));
        Assert.Equal(0L, await stack.QueueAdmin.CountOutstandingAsync(["model-a"], Ct));
    }

    [Fact]
    public async Task Drain_OneInputThatTheProviderRejects_FailsOnlyThatTaskAfterBisecting()
    {
        await using var stack = await EmbeddingStack.CreateAsync(
            server,
            provider => [new Runtime.EmbeddingModel("model-a", 64, new PoisonRejectingGenerator(EmbeddingStack.Model(provider, "model-a", 64).Generator)) { BatchSize = 16 }],
            Ct);
        for (var i = 0; i < 12; i++)
        {
            stack.Documents.Texts[$"d{i}"] = i == 7 ? "this one is POISON for the provider" : $"ordinary document number {i}";
        }

        stack.Documents.Texts["empty"] = "   ";

        await stack.Runtime.EnqueueTextEmbeddingAsync(Type, stack.Documents.Texts.Keys, cancellationToken: Ct);
        await stack.DrainAsync(Ct);

        var dead = await stack.QueueAdmin.ListDeadAsync(cancellationToken: Ct);
        Assert.Equal(["d7", "empty"], dead.Select(d => d.Key.EntityId).Order());
        Assert.Contains("POISON", dead.Single(d => d.Key.EntityId == "d7").Error, StringComparison.Ordinal);
        Assert.Contains("empty or whitespace", dead.Single(d => d.Key.EntityId == "empty").Error, StringComparison.Ordinal);
        Assert.Equal(11L, await stack.ScalarAsync<long>("SELECT count(*) FROM {s}.embeddingkit_embeddings_64"));
    }

    [Fact]
    public async Task Drain_InputRejectedInOneOfSixRequests_ResendsOnlyThatRequestsOtherInputs()
    {
        // The model keeps the default BatchSize (64) while the provider takes 10 inputs per request: the runtime calls
        // the client once per request the client plans, so the refused request fails alone and its siblings are kept.
        await using var stack = await EmbeddingStack.CreateAsync(
            server,
            provider => [new Runtime.EmbeddingModel("model-a", 64, OpenAI.OpenAICompatibleEmbeddingGenerator.Create(new OpenAI.OpenAICompatibleEmbeddingOptions
            {
                BaseUrl = provider.BaseUrl,
                ApiKey = "test-key",
                Model = "model-a",
                Dimensions = 64,
                MaxInputsPerRequest = 10,
            }))],
            Ct);
        stack.Provider.RejectedInputMarker = "POISON";
        for (var i = 0; i < 60; i++)
        {
            stack.Documents.Texts[$"d{i}"] = i == 23 ? "this one is POISON for the provider" : $"ordinary document number {i}";
        }

        await stack.Runtime.EnqueueTextEmbeddingAsync(Type, stack.Documents.Texts.Keys, cancellationToken: Ct);
        await stack.DrainAsync(Ct);

        var dead = await stack.QueueAdmin.ListDeadAsync(cancellationToken: Ct);
        Assert.Equal("d23", Assert.Single(dead).Key.EntityId);
        Assert.Equal(59L, await stack.ScalarAsync<long>("SELECT count(*) FROM {s}.embeddingkit_embeddings_64"));
        Assert.Equal(60 + 9, stack.Provider.InputCount);
        Assert.Equal(6 + 1, stack.Provider.RequestCount);
        Assert.All(stack.Provider.BatchSizes, size => Assert.InRange(size, 1, 10));
    }

    [Fact]
    public async Task Rollout_FromModelAToModelB_RefusesEarlySwitchFallsBackWhilePartialAndRetiresA()
    {
        await using var stack = await EmbeddingStack.CreateAsync(server, p => [EmbeddingStack.Model(p, "model-a", 64), EmbeddingStack.Model(p, "model-b", 64)], Ct);
        Load(stack);
        await stack.Runtime.EnqueueTextEmbeddingAsync(Type, Articles.Keys, ["model-a"], cancellationToken: Ct);
        await stack.DrainAsync(Ct);
        await stack.Rollout.ActivateAsync(Type, "model-a", Articles.Count, cancellationToken: Ct);

        // Dual-write starts; model-b is backfilled for half of the articles only.
        await stack.Runtime.EnqueueTextEmbeddingAsync(Type, ["1", "2", "3"], ["model-b"], cancellationToken: Ct);
        await stack.DrainAsync(Ct);
        var refused = await Assert.ThrowsAsync<CoverageTooLowException>(() => stack.Rollout.ActivateAsync(Type, "model-b", Articles.Count, cancellationToken: Ct).AsTask());
        Assert.Equal(3, refused.Coverage.Stored);

        var forced = await stack.Rollout.ActivateAsync(Type, "model-b", Articles.Count, force: true, cancellationToken: Ct);
        var partial = await stack.Search.SearchAsync(Articles["5"], Type, k: 4, cancellationToken: Ct);

        Assert.Equal("model-a", forced.PreviousModel);
        Assert.True(partial.FallbackUsed);
        Assert.Contains(partial.Hits, h => h.EntityId == "5" && h.Path == "fallback-model" && h.Model == "model-a");
        Assert.All(partial.Hits.Where(h => h.Model == "model-b"), h => Assert.Contains(h.EntityId, new[] { "1", "2", "3" }));

        var backfilled = await stack.Rollout.BackfillAsync(Type, "model-b", Articles.Keys.ToAsyncEnumerable(), cancellationToken: Ct);
        await stack.DrainAsync(Ct);
        var switched = await stack.Rollout.ActivateAsync(Type, "model-b", Articles.Count, cancellationToken: Ct);
        var complete = await stack.Search.SearchAsync(Articles["5"], Type, k: 4, cancellationToken: Ct);

        Assert.Equal(3, backfilled);
        Assert.Equal(1.0, switched.Coverage);
        Assert.False(complete.FallbackUsed);
        Assert.Equal(("5", "model-b", "hnsw"), (complete.Hits[0].EntityId, complete.Hits[0].Model, complete.Hits[0].Path));

        await Assert.ThrowsAsync<InvalidOperationException>(() => stack.Rollout.RetireModelAsync("model-b", cancellationToken: Ct).AsTask());
        var retired = await stack.Rollout.RetireModelAsync("model-a", cancellationToken: Ct);
        Assert.Equal(6, retired.Vectors);
        Assert.Equal(6L, await stack.ScalarAsync<long>("SELECT count(*) FROM {s}.embeddingkit_embeddings_64 WHERE model = 'model-b'"));
        Assert.Null((await stack.Rollout.GetActiveAsync(Type, Ct))!.PreviousModel);
    }

    [Fact]
    public async Task Worker_StoppedMidBatch_ReleasesClaimedTasksAtOnceAndLosesNothing()
    {
        await using var stack = await EmbeddingStack.CreateAsync(server, cancellationToken: Ct);
        Load(stack);
        stack.Provider.Latency = TimeSpan.FromSeconds(30);
        var worker = new EmbeddingWorker(stack.Queue, stack.Runtime, Options.Create(new EmbeddingWorkerOptions { Concurrency = 1, BatchSize = 16, PollInterval = TimeSpan.FromMilliseconds(100) }));
        await stack.Runtime.EnqueueTextEmbeddingAsync(Type, Articles.Keys, cancellationToken: Ct);

        await worker.StartAsync(Ct);
        while (await stack.ScalarAsync<long>("SELECT count(*) FROM {s}.embeddingkit_embedding_tasks WHERE lease_token IS NOT NULL") < 6)
        {
            await Task.Delay(50, Ct);
        }

        await worker.StopAsync(Ct);

        Assert.Equal(0L, await stack.ScalarAsync<long>("SELECT count(*) FROM {s}.embeddingkit_embedding_tasks WHERE lease_token IS NOT NULL OR run_at > now() OR attempts <> 0"));
        stack.Provider.Latency = TimeSpan.Zero;
        await stack.DrainAsync(Ct);
        Assert.Equal(6L, await stack.ScalarAsync<long>("SELECT count(*) FROM {s}.embeddingkit_embeddings_64"));
    }

    [Fact]
    public async Task Drain_ProviderRateLimiting_DefersTasksWithoutUsingAttempts()
    {
        await using var stack = await EmbeddingStack.CreateAsync(
            server,
            provider => [new Runtime.EmbeddingModel("model-a", 64, OpenAI.OpenAICompatibleEmbeddingGenerator.Create(new OpenAI.OpenAICompatibleEmbeddingOptions { BaseUrl = provider.BaseUrl, ApiKey = "k", Model = "model-a", Dimensions = 64, MaxAttempts = 1 }))],
            Ct);
        Load(stack);
        stack.Provider.RetryAfterValue = "45";
        stack.Provider.SetFaultRate(TestInfrastructure.FakeProvider.FakeFault.RateLimited, 1.0);
        await stack.Runtime.EnqueueTextEmbeddingAsync(Type, Articles.Keys, cancellationToken: Ct);

        await stack.DrainAsync(Ct);

        Assert.Equal(6L, await stack.ScalarAsync<long>("SELECT count(*) FROM {s}.embeddingkit_embedding_tasks WHERE attempts = 0 AND deferrals = 1 AND run_at > now() + interval '40 seconds'"));
        Assert.Empty(await stack.QueueAdmin.ListDeadAsync(cancellationToken: Ct));
    }

    /// <summary>A provider that rejects a whole batch (400, no index) when any input contains POISON.</summary>
    private sealed class PoisonRejectingGenerator(IEmbeddingGenerator<string, Embedding<float>> inner) : DelegatingEmbeddingGenerator<string, Embedding<float>>(inner)
    {
        public override Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(IEnumerable<string> values, EmbeddingGenerationOptions? options = null, CancellationToken cancellationToken = default)
        {
            var list = values.ToList();
            return list.Any(v => v.Contains("POISON", StringComparison.Ordinal))
                ? throw new EmbeddingBadInputException("The provider rejected the batch: an input contains POISON.")
                : base.GenerateAsync(list, options, cancellationToken);
        }
    }
}
