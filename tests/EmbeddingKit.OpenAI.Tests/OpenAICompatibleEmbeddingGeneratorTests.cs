using System.Net;
using EmbeddingKit.TestInfrastructure.FakeProvider;
using Microsoft.Extensions.AI;

namespace EmbeddingKit.OpenAI.Tests;

public sealed class OpenAICompatibleEmbeddingGeneratorTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData(EmbeddingEncodingFormat.Base64)]
    [InlineData(EmbeddingEncodingFormat.Float)]
    public async Task GenerateAsync_EitherFormat_DecodesBitExactly(EmbeddingEncodingFormat format)
    {
        await using var server = await FakeEmbeddingServer.StartAsync(Ct);
        using var generator = OpenAICompatibleEmbeddingGenerator.Create(TestOptions.For(server, o => o.EncodingFormat = format));
        var texts = TestOptions.Texts(5);

        var result = await generator.GenerateAsync(texts, cancellationToken: Ct);

        Assert.Equal(5, result.Count);
        for (var i = 0; i < texts.Length; i++)
        {
            Assert.Equal(FakeResponseBodies.VectorForText(texts[i], 384), result[i].Vector.ToArray());
        }

        Assert.Contains(format == EmbeddingEncodingFormat.Base64 ? "\"encoding_format\":\"base64\"" : "\"encoding_format\":\"float\"", server.LastRequestBody, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(EmbeddingEncodingFormat.Base64, FakeResponseFormat.Float)]
    [InlineData(EmbeddingEncodingFormat.Float, FakeResponseFormat.Base64)]
    public async Task GenerateAsync_ProviderIgnoresRequestedFormat_ReadsWhatWasSent(EmbeddingEncodingFormat asked, FakeResponseFormat sent)
    {
        await using var server = await FakeEmbeddingServer.StartAsync(Ct);
        server.ResponseFormat = sent;
        using var generator = OpenAICompatibleEmbeddingGenerator.Create(TestOptions.For(server, o => o.EncodingFormat = asked));

        var result = await generator.GenerateAsync(["alpha beta", "gamma delta"], cancellationToken: Ct);

        Assert.Equal(FakeResponseBodies.VectorForText("alpha beta", 384), result[0].Vector.ToArray());
        Assert.Equal(FakeResponseBodies.VectorForText("gamma delta", 384), result[1].Vector.ToArray());
    }

    [Fact]
    public async Task GenerateAsync_ManyInputs_SendsCeilingOfInputsOverLimitRequests()
    {
        await using var server = await FakeEmbeddingServer.StartAsync(Ct);
        server.MaxBatchSize = 32;
        using var generator = OpenAICompatibleEmbeddingGenerator.Create(TestOptions.For(server, o => o.MaxInputsPerRequest = 32));
        var texts = TestOptions.Texts(250);

        var result = await generator.GenerateAsync(texts, cancellationToken: Ct);

        Assert.Equal(8, server.RequestCount);
        Assert.Equal(250, server.InputCount);
        Assert.All(server.BatchSizes, size => Assert.InRange(size, 1, 32));
        for (var i = 0; i < texts.Length; i++)
        {
            Assert.Equal(FakeResponseBodies.VectorForText(texts[i], 384), result[i].Vector.ToArray());
        }
    }

    [Fact]
    public async Task GenerateAsync_ShuffledIndexes_ReturnsInputOrder()
    {
        await using var server = await FakeEmbeddingServer.StartAsync(Ct);
        server.InjectFault(FakeFault.ShuffledIndexes);
        using var generator = OpenAICompatibleEmbeddingGenerator.Create(TestOptions.For(server));
        var texts = TestOptions.Texts(6);

        var result = await generator.GenerateAsync(texts, cancellationToken: Ct);

        Assert.Equal(1, server.RequestCount);
        for (var i = 0; i < texts.Length; i++)
        {
            Assert.Equal(FakeResponseBodies.VectorForText(texts[i], 384), result[i].Vector.ToArray());
        }
    }

    [Fact]
    public async Task GenerateAsync_ManyBatches_KeepsConcurrencyWithinLimit()
    {
        await using var server = await FakeEmbeddingServer.StartAsync(Ct);
        server.Latency = TimeSpan.FromMilliseconds(40);
        using var generator = OpenAICompatibleEmbeddingGenerator.Create(TestOptions.For(server, o =>
        {
            o.MaxInputsPerRequest = 2;
            o.MaxConcurrentRequests = 2;
        }));

        var result = await generator.GenerateAsync(TestOptions.Texts(20), cancellationToken: Ct);

        Assert.Equal(20, result.Count);
        Assert.Equal(10, server.RequestCount);
        Assert.InRange(server.MaxConcurrentRequests, 1, 2);
    }

    [Fact]
    public async Task GenerateAsync_Usage_SumsTokensOfAllRequests()
    {
        await using var server = await FakeEmbeddingServer.StartAsync(Ct);
        using var generator = OpenAICompatibleEmbeddingGenerator.Create(TestOptions.For(server, o => o.MaxInputsPerRequest = 4));

        var result = await generator.GenerateAsync(TestOptions.Texts(10), cancellationToken: Ct);

        // The fake reports 3 prompt tokens per input.
        Assert.Equal(30, result.Usage?.InputTokenCount);
        Assert.Equal(30, result.Usage?.TotalTokenCount);
        Assert.Equal("fake-model", result[0].ModelId);
    }

    [Fact]
    public async Task GenerateAsync_DimensionsSet_SendsThemAndChecksTheSize()
    {
        await using var server = await FakeEmbeddingServer.StartAsync(Ct);
        using var generator = OpenAICompatibleEmbeddingGenerator.Create(TestOptions.For(server, o => o.Dimensions = 256));

        var result = await generator.GenerateAsync(["one", "two"], cancellationToken: Ct);

        Assert.All(result, e => Assert.Equal(256, e.Vector.Length));
        Assert.Contains("\"dimensions\":256", server.LastRequestBody, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GenerateAsync_ExtraRequestFields_AreSent()
    {
        await using var server = await FakeEmbeddingServer.StartAsync(Ct);
        using var generator = OpenAICompatibleEmbeddingGenerator.Create(TestOptions.For(server, o => o.ExtraRequestFields["input_type"] = "document"));

        await generator.GenerateAsync(["one"], cancellationToken: Ct);

        Assert.Contains("\"input_type\":\"document\"", server.LastRequestBody, StringComparison.Ordinal);
        Assert.Equal("Bearer " + TestOptions.ApiKey, server.LastAuthorization);
    }

    [Fact]
    public async Task GenerateAsync_NoInputs_SendsNothing()
    {
        await using var server = await FakeEmbeddingServer.StartAsync(Ct);
        using var generator = OpenAICompatibleEmbeddingGenerator.Create(TestOptions.For(server));

        var result = await generator.GenerateAsync([], cancellationToken: Ct);

        Assert.Empty(result);
        Assert.Equal(0, server.RequestCount);
    }

    [Theory]
    [InlineData(2, "")]
    [InlineData(0, "   ")]
    [InlineData(1, "a\0b")]
    [InlineData(3, null)]
    public async Task GenerateAsync_BadInput_ThrowsArgumentExceptionNamingPositionBeforeAnyRequest(int position, string? bad)
    {
        await using var server = await FakeEmbeddingServer.StartAsync(Ct);
        using var generator = OpenAICompatibleEmbeddingGenerator.Create(TestOptions.For(server));
        var texts = TestOptions.Texts(4);
        texts[position] = bad!;

        var ex = await Assert.ThrowsAsync<ArgumentException>(() => generator.GenerateAsync(texts, cancellationToken: Ct));

        Assert.Contains($"Input {position} ", ex.Message, StringComparison.Ordinal);
        Assert.Equal(0, server.RequestCount);
    }

    [Fact]
    public async Task GetService_Metadata_DescribesProviderModelAndDimensions()
    {
        await using var server = await FakeEmbeddingServer.StartAsync(Ct);
        using var generator = OpenAICompatibleEmbeddingGenerator.Create(TestOptions.For(server, o => o.Dimensions = 128));

        var metadata = generator.GetService<EmbeddingGeneratorMetadata>();

        Assert.NotNull(metadata);
        Assert.Equal("fake", metadata.ProviderName);
        Assert.Equal("fake-model", metadata.DefaultModelId);
        Assert.Equal(128, metadata.DefaultModelDimensions);
        Assert.Equal(server.BaseUrl, metadata.ProviderUri);
    }

    [Fact]
    public async Task GenerateAsync_CallerCancels_ThrowsOperationCanceled()
    {
        await using var server = await FakeEmbeddingServer.StartAsync(Ct);
        server.InjectFault(FakeFault.Hang);
        using var generator = OpenAICompatibleEmbeddingGenerator.Create(TestOptions.For(server));
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        cts.CancelAfter(TimeSpan.FromMilliseconds(100));

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => generator.GenerateAsync(["one"], cancellationToken: cts.Token));
        Assert.Equal(1, server.RequestCount);
    }

    [Fact]
    public async Task Create_InvalidOptions_ThrowsConfigurationException()
    {
        await using var server = await FakeEmbeddingServer.StartAsync(Ct);

        Assert.Throws<EmbeddingConfigurationException>(() => OpenAICompatibleEmbeddingGenerator.Create(TestOptions.For(server, o => o.Model = " ")));
        Assert.Throws<EmbeddingConfigurationException>(() => OpenAICompatibleEmbeddingGenerator.Create(TestOptions.For(server, o => o.MaxInputsPerRequest = 0)));
        Assert.Throws<EmbeddingConfigurationException>(() => OpenAICompatibleEmbeddingGenerator.Create(TestOptions.For(server, o => o.BaseUrl = new Uri("ftp://x/"))));
        Assert.Throws<EmbeddingConfigurationException>(() => OpenAICompatibleEmbeddingGenerator.Create(TestOptions.For(server, o => o.ExtraRequestFields["model"] = "x")));
        Assert.Throws<EmbeddingConfigurationException>(() => OpenAICompatibleEmbeddingGenerator.Create(TestOptions.For(server, o => o.Dimensions = 0)));
    }

    [Fact]
    public async Task Create_OptionsChangedAfterwards_GeneratorKeepsItsCopy()
    {
        await using var server = await FakeEmbeddingServer.StartAsync(Ct);
        var options = TestOptions.For(server);
        using var generator = OpenAICompatibleEmbeddingGenerator.Create(options);
        options.Model = "changed";

        await generator.GenerateAsync(["one"], cancellationToken: Ct);

        Assert.Contains("\"model\":\"fake-model\"", server.LastRequestBody, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GenerateAsync_ResponseStatus_IsOnTypedException()
    {
        await using var server = await FakeEmbeddingServer.StartAsync(Ct);
        server.InjectFault(FakeFault.NotFound);
        using var generator = OpenAICompatibleEmbeddingGenerator.Create(TestOptions.For(server));

        var ex = await Assert.ThrowsAsync<EmbeddingConfigurationException>(() => generator.GenerateAsync(["one"], cancellationToken: Ct));

        Assert.Equal(HttpStatusCode.NotFound, ex.StatusCode);
        Assert.Equal("fake", ex.Provider);
        Assert.Equal("fake-model", ex.Model);
        Assert.Equal("req_fake_404", ex.RequestId);
        Assert.Contains("does not exist", ex.ProviderMessage, StringComparison.Ordinal);
        Assert.Contains("req_fake_404", ex.Message, StringComparison.Ordinal);
    }
}
