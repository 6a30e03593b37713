using System.Net;
using EmbeddingKit.Embedders;
using EmbeddingKit.TestInfrastructure.FakeProvider;

namespace EmbeddingKit.OpenAI.Tests;

/// <summary>Issue 12, items 9-11 at the client: which input (or the request) a provider error belongs to, and that an
/// unusable vector fails only its input. Item 12 (Retry-After passed through) is in <see cref="RetryAfterTests"/>.</summary>
public sealed class ProviderErrorIsolationTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData(FakeFault.NaN)]
    [InlineData(FakeFault.ZeroVector)]
    public async Task GenerateAsync_OneUnusableVector_OneRequestGoodVectorsKeptThatInputNamed(FakeFault fault)
    {
        await using var server = await FakeEmbeddingServer.StartAsync(Ct);
        server.InjectFault(fault);
        using var generator = OpenAICompatibleEmbeddingGenerator.Create(TestOptions.For(server));
        var texts = TestOptions.Texts(4);

        var ex = await Assert.ThrowsAsync<EmbeddingPartialResultException>(() => generator.GenerateAsync(texts, cancellationToken: Ct));

        Assert.Equal(1, server.RequestCount);
        Assert.False(ex.IsTransient);
        Assert.Equal([0], ex.InvalidInputs.Keys);
        Assert.Null(ex.Embeddings[0]);
        for (var i = 1; i < texts.Length; i++)
        {
            Assert.Equal(FakeResponseBodies.VectorForText(texts[i], 384), ex.Embeddings[i]!.Vector.ToArray());
        }
    }

    [Fact]
    public async Task GenerateAsync_RejectedFieldNamedInParam_ConfigurationErrorAfterOneRequest()
    {
        await using var server = await FakeEmbeddingServer.StartAsync(Ct);
        server.RejectedField = "dimensions";
        using var generator = OpenAICompatibleEmbeddingGenerator.Create(TestOptions.For(server, o => o.Dimensions = 384));

        var ex = await Assert.ThrowsAsync<EmbeddingConfigurationException>(() => generator.GenerateAsync(TestOptions.Texts(5), cancellationToken: Ct));

        Assert.Equal(1, server.RequestCount);
        Assert.Equal(HttpStatusCode.BadRequest, ex.StatusCode);
        Assert.Contains("'dimensions' is not supported", ex.ProviderMessage, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Unrecognized request argument supplied: input_type")]
    [InlineData("This model does not support specifying dimensions.")]
    public async Task GenerateAsync_RejectedFieldOnlyInMessage_ConfigurationError(string message)
    {
        await using var server = await FakeEmbeddingServer.StartAsync(Ct);
        server.RejectedField = "model";
        server.RejectedFieldMessage = message;
        server.RejectedFieldNamesParam = false;
        using var generator = OpenAICompatibleEmbeddingGenerator.Create(TestOptions.For(server));

        var ex = await Assert.ThrowsAsync<EmbeddingConfigurationException>(() => generator.GenerateAsync(["just one"], cancellationToken: Ct));

        Assert.Equal(message, ex.ProviderMessage);
    }

    [Fact]
    public async Task GenerateAsync_InputNamedByProvider_StaysAnInputError()
    {
        await using var server = await FakeEmbeddingServer.StartAsync(Ct);
        server.RejectedInputMarker = "FORBIDDEN";
        using var generator = OpenAICompatibleEmbeddingGenerator.Create(TestOptions.For(server));

        var ex = await Assert.ThrowsAsync<EmbeddingBadInputException>(() => generator.GenerateAsync(["fine", "fine too", "FORBIDDEN text"], cancellationToken: Ct));

        Assert.Equal(2, ex.InputIndex);
    }

    [Fact]
    public async Task GenerateAsync_TextImagePairsOneTextRejected_BlamesItsInputNotTheItemOffset()
    {
        await using var server = await FakeEmbeddingServer.StartAsync(Ct);
        server.RejectedInputMarker = "FORBIDDEN";
        using var generator = OpenAICompatibleEmbeddingGenerator.CreateMultimodal(TestOptions.For(server));
        var image = new byte[] { 1, 2, 3, 4, 5 };
        MultimodalInput[] inputs =
        [
            new([MultimodalContent.FromText("caption zero"), MultimodalContent.FromImage(image, "image/png")]),
            new([MultimodalContent.FromText("FORBIDDEN caption one"), MultimodalContent.FromImage(image, "image/png")]),
            new([MultimodalContent.FromText("caption two"), MultimodalContent.FromImage(image, "image/png")]),
        ];

        var ex = await Assert.ThrowsAsync<EmbeddingBadInputException>(() => generator.GenerateAsync(inputs, cancellationToken: Ct));

        // The rejected text is request item 2 (input 1's first part); input 2 is innocent.
        Assert.Equal(1, ex.InputIndex);
        Assert.Contains("input[2]", ex.ProviderMessage, StringComparison.Ordinal);
    }
}
