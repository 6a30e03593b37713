using System.Text.Json;
using EmbeddingKit.Embedders;
using EmbeddingKit.TestInfrastructure.FakeProvider;
using EmbeddingKit.Vectors;

namespace EmbeddingKit.OpenAI.Tests;

public sealed class MultimodalEmbeddingGeneratorTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static readonly byte[] Png = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 1, 2, 3, 4, 5];

    [Fact]
    public async Task GenerateAsync_TextAndImage_SendsJinaShapeAndReturnsVectorsInOrder()
    {
        await using var server = await FakeEmbeddingServer.StartAsync(Ct);
        using var generator = OpenAICompatibleEmbeddingGenerator.CreateMultimodal(TestOptions.For(server));

        var result = await generator.GenerateAsync(
        [
            new MultimodalInput(MultimodalContent.FromText("a red bicycle")),
            new MultimodalInput(MultimodalContent.FromImage(Png, "image/png")),
        ], cancellationToken: Ct);

        Assert.Equal(2, result.Count);
        Assert.Equal(FakeResponseBodies.VectorForText("a red bicycle", 384), result[0].Vector.ToArray());
        Assert.Equal(FakeResponseBodies.VectorForImage(Convert.ToBase64String(Png), 384), result[1].Vector.ToArray());
        using var body = JsonDocument.Parse(server.LastRequestBody!);
        var input = body.RootElement.GetProperty("input");
        Assert.Equal("a red bicycle", input[0].GetProperty("text").GetString());
        Assert.Equal(Convert.ToBase64String(Png), input[1].GetProperty("image").GetString());
    }

    [Fact]
    public async Task GenerateAsync_InputOfSeveralParts_AveragesAndNormalizes()
    {
        await using var server = await FakeEmbeddingServer.StartAsync(Ct);
        using var generator = OpenAICompatibleEmbeddingGenerator.CreateMultimodal(TestOptions.For(server));
        byte[] frame2 = [9, 8, 7, 6];

        var result = await generator.GenerateAsync(
        [
            new MultimodalInput(MultimodalContent.FromText("caption"), MultimodalContent.FromVideoFrames([Png, frame2], "image/jpeg")),
            new MultimodalInput(MultimodalContent.FromText("alone")),
        ], cancellationToken: Ct);

        var expected = new float[384];
        foreach (var part in new[]
        {
            FakeResponseBodies.VectorForText("caption", 384),
            FakeResponseBodies.VectorForImage(Convert.ToBase64String(Png), 384),
            FakeResponseBodies.VectorForImage(Convert.ToBase64String(frame2), 384),
        })
        {
            System.Numerics.Tensors.TensorPrimitives.Add(expected, part, expected);
        }

        VectorMath.Normalize(expected);
        Assert.Equal(expected, result[0].Vector.ToArray());
        Assert.Equal(FakeResponseBodies.VectorForText("alone", 384), result[1].Vector.ToArray());
        Assert.Equal(4, server.InputCount);
    }

    [Fact]
    public async Task GenerateAsync_ImageOverLimit_ThrowsBadInputNamingInputBeforeAnyRequest()
    {
        await using var server = await FakeEmbeddingServer.StartAsync(Ct);
        using var generator = OpenAICompatibleEmbeddingGenerator.CreateMultimodal(TestOptions.For(server, o => o.MaxImageBytes = 10));

        var ex = await Assert.ThrowsAsync<EmbeddingBadInputException>(() => generator.GenerateAsync(
        [
            new MultimodalInput(MultimodalContent.FromText("fine")),
            new MultimodalInput(MultimodalContent.FromImage(Png, "image/png")),
        ], cancellationToken: Ct));

        Assert.Equal(1, ex.InputIndex);
        Assert.Contains("13 bytes, over the limit of 10 bytes", ex.Message, StringComparison.Ordinal);
        Assert.Equal(0, server.RequestCount);
        Assert.Equal(10, generator.MaxImageBytes);
    }

    [Fact]
    public async Task GenerateAsync_MultimodalTransientFault_Retried()
    {
        await using var server = await FakeEmbeddingServer.StartAsync(Ct);
        server.InjectFault(FakeFault.ServiceUnavailable);
        using var generator = OpenAICompatibleEmbeddingGenerator.CreateMultimodal(TestOptions.For(server));

        var result = await generator.GenerateAsync([new MultimodalInput(MultimodalContent.FromImage(Png, "image/png"))], cancellationToken: Ct);

        Assert.Single(result);
        Assert.Equal(2, server.RequestCount);
    }
}
