using EmbeddingKit.Embedders;
using EmbeddingKit.OpenAI;
using EmbeddingKit.Runtime;
using EmbeddingKit.Tasks;
using EmbeddingKit.TestInfrastructure.FakeProvider;
using EmbeddingKit.TestInfrastructure.Postgres;

namespace EmbeddingKit.Hosting.Tests;

public sealed class MultimodalTests(PostgresServer server)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Drain_MultimodalTasks_EmbedsHostAssetsStoresThemAndSkipsUnchangedOnes()
    {
        await using var stack = await EmbeddingStack.CreateAsync(server, p => [Model(p)], Ct);
        var assets = new Assets();
        assets.Inputs["g1"] = new MultimodalInput(MultimodalContent.FromText("a red bicycle"), MultimodalContent.FromImage(new byte[] { 1, 2, 3, 4 }, "image/png"));
        assets.Inputs["g2"] = new MultimodalInput(MultimodalContent.FromImage(new byte[] { 9, 8, 7 }, "image/jpeg"));
        var runtime = new EmbeddingRuntime(stack.Registry, stack.Documents, stack.Storage, stack.Queue, assets: assets);
        var requests = new[] { "g1", "g2", "gone" }.Select(id => new EnqueueRequest("gallery", id, "vl-model") { Kind = EmbeddingTaskKind.Multimodal }).ToList();

        await stack.Queue.EnqueueAsync(requests, Ct);
        var first = await stack.Queue.DrainOnceAsync(runtime, cancellationToken: Ct);
        var inputsAfterFirst = stack.Provider.InputCount;
        await stack.Queue.EnqueueAsync(requests, Ct);
        var second = await stack.Queue.DrainOnceAsync(runtime, cancellationToken: Ct);

        Assert.Equal(3, first.Completion.Completed.Count);
        Assert.Empty(first.Failure.Dead);
        Assert.Equal(2L, await stack.ScalarAsync<long>("SELECT count(*) FROM {s}.embeddingkit_embeddings_64 WHERE entity_type = 'gallery' AND model = 'vl-model'"));
        Assert.Equal(3, second.Completion.Completed.Count);
        Assert.Equal(inputsAfterFirst, stack.Provider.InputCount);
    }

    [Fact]
    public async Task Drain_MultimodalTaskWithoutAssetSource_FailsAsConfigurationAndPausesTheModel()
    {
        await using var stack = await EmbeddingStack.CreateAsync(server, p => [Model(p)], Ct);

        await stack.Queue.EnqueueAsync([new EnqueueRequest("gallery", "g1", "vl-model") { Kind = EmbeddingTaskKind.Multimodal }], Ct);
        var result = await stack.Queue.DrainOnceAsync(stack.Runtime, cancellationToken: Ct);

        Assert.Single(result.Failure.Retried);
        var stats = Assert.Single(await stack.Queue.GetStatsAsync(Ct));
        Assert.NotNull(stats.PausedUntil);
    }

    private static EmbeddingModel Model(FakeEmbeddingServer provider)
    {
        var options = new OpenAICompatibleEmbeddingOptions { BaseUrl = provider.BaseUrl, ApiKey = "k", Model = "vl-model", Dimensions = 64 };
        return new EmbeddingModel("vl-model", 64, OpenAICompatibleEmbeddingGenerator.Create(options))
        {
            MultimodalGenerator = OpenAICompatibleEmbeddingGenerator.CreateMultimodal(options),
        };
    }

    private sealed class Assets : IAssetSource
    {
        public Dictionary<string, MultimodalInput> Inputs { get; } = new(StringComparer.Ordinal);

        public ValueTask<IReadOnlyList<MultimodalInput?>> GetInputsAsync(string entityType, IReadOnlyList<string> entityIds, CancellationToken cancellationToken = default) =>
            ValueTask.FromResult<IReadOnlyList<MultimodalInput?>>([.. entityIds.Select(id => Inputs.GetValueOrDefault(id))]);
    }
}
