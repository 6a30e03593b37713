using System.Text.Json;
using EmbeddingKit.TestInfrastructure.FakeProvider;
using Microsoft.ML.Tokenizers;

namespace EmbeddingKit.OpenAI.Tests;

public sealed class TokenLimitTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static readonly string LongText = string.Join(' ', Enumerable.Repeat("tokenization matters for embeddings", 20));

    [Fact]
    public async Task GenerateAsync_OverLimitWithFailPolicy_ThrowsBadInputNamingInputBeforeAnyRequest()
    {
        await using var server = await FakeEmbeddingServer.StartAsync(Ct);
        using var generator = OpenAICompatibleEmbeddingGenerator.Create(TestOptions.For(server, o =>
        {
            o.Model = "text-embedding-3-small";
            o.MaxTokensPerInput = 10;
            o.OverlongInputPolicy = OverlongInputPolicy.Fail;
        }));

        var ex = await Assert.ThrowsAsync<EmbeddingBadInputException>(() => generator.GenerateAsync(["short", LongText], cancellationToken: Ct));

        Assert.Equal(1, ex.InputIndex);
        Assert.Contains("over the limit of 10", ex.Message, StringComparison.Ordinal);
        Assert.Equal(0, server.RequestCount);
    }

    [Fact]
    public async Task GenerateAsync_OverLimitWithTruncatePolicy_SendsExactlyTheLimitInTokens()
    {
        await using var server = await FakeEmbeddingServer.StartAsync(Ct);
        using var generator = OpenAICompatibleEmbeddingGenerator.Create(TestOptions.For(server, o =>
        {
            o.Model = "text-embedding-3-small";
            o.MaxTokensPerInput = 10;
        }));

        await generator.GenerateAsync([LongText], cancellationToken: Ct);

        var sent = SentInputs(server)[0];
        var tokenizer = TiktokenTokenizer.CreateForModel("text-embedding-3-small");
        Assert.Equal(10, tokenizer.CountTokens(sent));
        Assert.StartsWith(sent, LongText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GenerateAsync_UnknownModelOverEstimate_TruncatesToThreeBytesPerToken()
    {
        await using var server = await FakeEmbeddingServer.StartAsync(Ct);
        using var generator = OpenAICompatibleEmbeddingGenerator.Create(TestOptions.For(server, o => o.MaxTokensPerInput = 10));

        await generator.GenerateAsync([LongText, "short one"], cancellationToken: Ct);

        var sent = SentInputs(server);
        Assert.Equal(LongText[..30], sent[0]);
        Assert.Equal("short one", sent[1]);
    }

    [Fact]
    public async Task GenerateAsync_OpenAIModelWithinDefaultLimit_SendsTextUnchanged()
    {
        await using var server = await FakeEmbeddingServer.StartAsync(Ct);
        using var generator = OpenAICompatibleEmbeddingGenerator.Create(TestOptions.For(server, o => o.Model = "text-embedding-3-large"));

        await generator.GenerateAsync([LongText], cancellationToken: Ct);

        Assert.Equal(LongText, SentInputs(server)[0]);
    }

    private static string[] SentInputs(FakeEmbeddingServer server)
    {
        using var document = JsonDocument.Parse(server.LastRequestBody!);
        return document.RootElement.GetProperty("input").EnumerateArray().Select(e => e.GetString()!).ToArray();
    }
}
