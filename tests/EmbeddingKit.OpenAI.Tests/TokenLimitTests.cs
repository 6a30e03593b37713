using System.Text.Json;
using EmbeddingKit.Embedders;
using EmbeddingKit.Resilience;
using EmbeddingKit.TestInfrastructure.FakeProvider;
using Microsoft.Extensions.AI;
using Microsoft.ML.Tokenizers;

namespace EmbeddingKit.OpenAI.Tests;

public sealed class TokenLimitTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static readonly string LongText = string.Join(' ', Enumerable.Repeat("tokenization matters for embeddings", 20));

    /// <summary>An OpenAI embedding model (exact cl100k counts) with a request budget of tokens and inputs.</summary>
    private static IEmbeddingGenerator<string, Embedding<float>> BudgetedGenerator(FakeEmbeddingServer server, int tokensPerRequest, int inputsPerRequest) =>
        OpenAICompatibleEmbeddingGenerator.Create(TestOptions.For(server, o =>
        {
            o.Model = "text-embedding-3-small";
            o.MaxTokensPerRequest = tokensPerRequest;
            o.MaxInputsPerRequest = inputsPerRequest;
        }));

    [Fact]
    public async Task GenerateAsync_BatchOverTheRequestTokenBudget_IsSplitIntoRequestsWithinIt()
    {
        await using var server = await FakeEmbeddingServer.StartAsync(Ct);
        using var generator = BudgetedGenerator(server, tokensPerRequest: 250, inputsPerRequest: 100);
        var tokenizer = TiktokenTokenizer.CreateForModel("text-embedding-3-small");
        var inputs = Enumerable.Range(0, 12).Select(i => $"document {i}: " + LongText).ToArray();
        var perInput = inputs.Select(t => tokenizer.CountTokens(t)).ToArray();

        var plan = EmbeddingKit.OpenAI.Internal.TokenLimiter.PlanRequests(inputs, 100, 250, "text-embedding-3-small");
        var result = await generator.GenerateAsync(inputs, cancellationToken: Ct);

        Assert.True(plan.Count > 1, $"{plan.Count} request(s) planned");
        Assert.Equal(0, plan[0].Offset);
        Assert.All(plan.Zip(plan.Skip(1)), pair => Assert.Equal(pair.First.Offset + pair.First.Count, pair.Second.Offset));
        Assert.Equal(12, plan[^1].Offset + plan[^1].Count);
        Assert.All(plan, p => Assert.InRange(perInput.Skip(p.Offset).Take(p.Count).Sum(), 1, 250));
        Assert.Equal(plan.Select(p => p.Count).Order(), server.BatchSizes.Order());
        Assert.Equal(12, result.Count);
        for (var i = 0; i < inputs.Length; i++)
        {
            Assert.Equal(FakeResponseBodies.VectorForText(inputs[i], result[i].Vector.Length), result[i].Vector.ToArray());
        }
    }

    [Fact]
    public async Task PlanRequests_ThroughMiddleware_EachPlannedRangeIsOneRequestWhenSentAlone()
    {
        await using var server = await FakeEmbeddingServer.StartAsync(Ct);
        using var generator = BudgetedGenerator(server, tokensPerRequest: 200, inputsPerRequest: 5).AsBuilder().UseRetry().UseConcurrencyLimit().Build();

        // Two long texts (about 125 tokens each) do not fit one request's 200 tokens; the short ones fill requests of 5.
        var inputs = Enumerable.Range(0, 12).Select(i => i < 2 ? $"document {i}: " + LongText : $"short document {i}").ToArray();

        var planner = generator.GetService<IEmbeddingRequestPlanner>();
        var plan = planner!.PlanRequests(inputs);
        var expected = EmbeddingKit.OpenAI.Internal.TokenLimiter.PlanRequests(inputs, 5, 200, "text-embedding-3-small");
        foreach (var range in plan)
        {
            await generator.GenerateAsync(inputs[range], cancellationToken: Ct);
        }

        Assert.Equal(expected.Select(p => new Range(p.Offset, p.Offset + p.Count)), plan);
        Assert.Equal([1, 5, 5, 1], plan.Select(r => r.GetOffsetAndLength(inputs.Length).Length));
        Assert.Equal(plan.Count, server.RequestCount);
        Assert.Equal([1, 5, 5, 1], server.BatchSizes);
    }

    [Fact]
    public async Task GenerateAsync_SmallBatchUnderTheDefaultBudget_IsOneRequestWithoutCounting()
    {
        await using var server = await FakeEmbeddingServer.StartAsync(Ct);
        using var generator = OpenAICompatibleEmbeddingGenerator.Create(TestOptions.For(server, o => o.Model = "text-embedding-3-small"));

        await generator.GenerateAsync([.. Enumerable.Range(0, 64).Select(i => $"document {i}: " + LongText)], cancellationToken: Ct);

        Assert.Equal(1, server.RequestCount);
        Assert.Equal([64], server.BatchSizes);
    }

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
