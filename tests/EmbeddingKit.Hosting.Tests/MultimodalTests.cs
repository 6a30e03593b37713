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
        var stats = Assert.Single(await stack.QueueAdmin.GetStatsAsync(Ct));
        Assert.NotNull(stats.PausedUntil);
    }

    [Fact]
    public async Task Drain_PhotosByUrl_FetchedWithTheAssetFetcherAndEmbedded_MissingPhotoIsGone()
    {
        await using var stack = await EmbeddingStack.CreateAsync(server, p => [Model(p)], Ct);
        await using var photoServer = await FakeAssetServer.StartAsync(Ct);

        // The fake photo server is on loopback: this host allows private networks (a real one would not).
        using var fetcher = new AssetFetcher(new AssetFetcherOptions { AllowPrivateNetworks = true, AllowHttp = true });
        var photos = new ProductPhotos(fetcher, new Dictionary<string, (string, Uri)>
        {
            ["p1"] = ("red bicycle", photoServer.Url("cat.png")),
            ["p2"] = ("lost photo", photoServer.Url("missing.png")),
        });
        var runtime = new EmbeddingRuntime(stack.Registry, stack.Documents, stack.Storage, stack.Queue, assets: photos);

        await stack.Queue.EnqueueAsync([.. new[] { "p1", "p2" }.Select(id => new EnqueueRequest("product", id, "vl-model") { Kind = EmbeddingTaskKind.Multimodal })], Ct);
        var result = await stack.Queue.DrainOnceAsync(runtime, cancellationToken: Ct);

        Assert.Equal(2, result.Completion.Completed.Count);
        Assert.Equal(1L, await stack.ScalarAsync<long>("SELECT count(*) FROM {s}.embeddingkit_embeddings_64 WHERE entity_type = 'product'"));
        Assert.Equal(2, photoServer.RequestCount);
    }

    // #region url-asset-source
    /// <summary>Product photos stored as URLs: each product is embedded from its title and its photo.</summary>
    private sealed class ProductPhotos(AssetFetcher fetcher, IReadOnlyDictionary<string, (string Title, Uri Photo)> products) : IAssetSource
    {
        public async ValueTask<IReadOnlyList<MultimodalInput?>> GetInputsAsync(
            string entityType, IReadOnlyList<string> entityIds, CancellationToken cancellationToken = default)
        {
            var inputs = new MultimodalInput?[entityIds.Count];
            for (var i = 0; i < entityIds.Count; i++)
            {
                if (!products.TryGetValue(entityIds[i], out var product))
                {
                    continue; // deleted product: null removes its vector
                }

                try
                {
                    var photo = await fetcher.FetchImageAsync(product.Photo, cancellationToken);
                    inputs[i] = new MultimodalInput(MultimodalContent.FromText(product.Title), photo);
                }
                catch (AssetFetchException e) when (!e.IsTransient)
                {
                    // Refused (private address, not an image, too large) or gone (404): nothing to embed. A transient
                    // failure propagates, and the batch is retried with backoff.
                    inputs[i] = null;
                }
            }

            return inputs;
        }
    }
    // #endregion url-asset-source

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
