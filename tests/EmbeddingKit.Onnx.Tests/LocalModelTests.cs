using EmbeddingKit.Onnx.Internal;
using Microsoft.Extensions.AI;

namespace EmbeddingKit.Onnx.Tests;

public sealed class LocalModelTests
{
    public static TheoryData<string> Presets => [LocalModels.AllMiniLmL6V2Name, LocalModels.ArcticEmbedXsName];

    public static TheoryData<string> AllPresets => [.. LocalModels.All.Select(m => m.Name)];

    [Theory]
    [MemberData(nameof(Presets))]
    public async Task CreateGenerator_Preset_MatchesTheCarrierEncoderOnOneHundredSentences(string preset)
    {
        var texts = Sentences.All.ToArray();
        using var generator = LocalModels.Find(preset)!.CreateGenerator();

        var ours = await generator.GenerateAsync(texts, cancellationToken: TestContext.Current.CancellationToken);
        var theirs = Carriers.Encode(preset, texts);

        Assert.Equal(100, ours.Count);
        var worst = Enumerable.Range(0, texts.Length).Min(i => Cosine.Of(ours[i].Vector.Span, theirs[i]));
        Assert.True(worst >= 0.999f, $"lowest cosine against the carrier: {worst}");
    }

    [Fact]
    public async Task CreateGenerator_TwoPresets_HoldDifferentModels()
    {
        // The two carriers share a vocabulary and a size; the test that each preset names the model it holds is that
        // their vectors of the same sentence differ (and each matches its own carrier, above).
        using var minilm = LocalModels.AllMiniLmL6V2.CreateGenerator();
        using var arctic = LocalModels.ArcticEmbedXs.CreateGenerator();

        var a = await minilm.GenerateAsync(["The old fisherman repaired the broken fence."], cancellationToken: TestContext.Current.CancellationToken);
        var b = await arctic.GenerateAsync(["The old fisherman repaired the broken fence."], cancellationToken: TestContext.Current.CancellationToken);

        Assert.Equal(384, a[0].Vector.Length);
        Assert.Equal(384, b[0].Vector.Length);
        Assert.True(Cosine.Of(a[0].Vector.Span, b[0].Vector.Span) < 0.9f);
    }

    [Theory]
    [MemberData(nameof(AllPresets))]
    public async Task GenerateAsync_ParaphrasePair_ScoresHigherThanUnrelatedPair(string preset)
    {
        var model = LocalModels.Find(preset)!;
        using var generator = model.CreateGenerator();
        string[] texts =
        [
            model.QueryPrefix + "How do I make my laptop battery last longer?",
            "Tips for extending the battery life of a notebook computer.",
            "The recipe needs two eggs, flour and a pinch of salt.",
        ];

        var vectors = await generator.GenerateAsync(texts, cancellationToken: TestContext.Current.CancellationToken);

        var paraphrase = Cosine.Of(vectors[0].Vector.Span, vectors[1].Vector.Span);
        var unrelated = Cosine.Of(vectors[0].Vector.Span, vectors[2].Vector.Span);
        Assert.True(paraphrase > unrelated + 0.2f, $"paraphrase {paraphrase}, unrelated {unrelated}");
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("\t\n")]
    public async Task GenerateAsync_EmptyOrWhitespaceInput_IsRefusedWithItsIndexBeforeInference(string blank)
    {
        using var generator = LocalModels.AllMiniLmL6V2.CreateGenerator();

        var error = await Assert.ThrowsAsync<EmbeddingBadInputException>(() => generator.GenerateAsync(["a fine sentence", blank], cancellationToken: TestContext.Current.CancellationToken));

        Assert.Equal(1, error.InputIndex);
        Assert.Contains("Input 1", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GenerateAsync_TenThousandCharacterInput_IsTruncatedAndCounted()
    {
        var model = LocalModels.AllMiniLmL6V2 with { MaxTokens = 128 };
        using var generator = model.CreateGenerator();
        var words = string.Join(' ', Enumerable.Range(0, 2000).Select(i => Sentences.All[i % 100].Split(' ')[i % 5]));
        var longText = words[..10_000];

        var result = await generator.GenerateAsync([longText, "a short sentence"], cancellationToken: TestContext.Current.CancellationToken);

        Assert.Equal(10_000, longText.Length);
        Assert.Equal(1, result.AdditionalProperties![LocalModel.TruncatedInputsProperty]);
        Assert.Equal(384, result[0].Vector.Length);
        Assert.InRange(System.Numerics.Tensors.TensorPrimitives.Norm(result[0].Vector.Span), 0.999f, 1.001f);
        Assert.True(result.Usage!.InputTokenCount <= 128 + 10);
    }

    [Fact]
    public async Task GenerateAsync_InputWithinTheLimit_IsNotCountedAsTruncated()
    {
        using var generator = LocalModels.AllMiniLmL6V2.CreateGenerator();

        var result = await generator.GenerateAsync(["a short sentence   "], cancellationToken: TestContext.Current.CancellationToken);

        Assert.Equal(0, result.AdditionalProperties![LocalModel.TruncatedInputsProperty]);
    }

    [Fact]
    public async Task GenerateAsync_ShortTextInABatchOfLongOnes_GetsTheSameVectorAsAlone()
    {
        // Padding per batch must not leak into the pooled vector.
        using var generator = LocalModels.AllMiniLmL6V2.CreateGenerator(new LocalEmbeddingOptions { BatchSize = 4 });
        var shortText = "cinnamon rolls";
        string[] batch = [Sentences.All[0] + " " + Sentences.All[1] + " " + Sentences.All[2], shortText, Sentences.All[3] + " " + Sentences.All[4]];

        var alone = await generator.GenerateAsync([shortText], cancellationToken: TestContext.Current.CancellationToken);
        var mixed = await generator.GenerateAsync(batch, cancellationToken: TestContext.Current.CancellationToken);

        Assert.True(Cosine.Of(alone[0].Vector.Span, mixed[1].Vector.Span) > 0.99999f);
    }

    [Fact]
    public async Task GenerateAsync_ConcurrentCallers_ShareOneSessionAndGetTheSequentialResults()
    {
        var texts = Sentences.All.ToArray();
        using var first = LocalModels.ArcticEmbedXs.CreateGenerator();
        using var second = LocalModels.ArcticEmbedXs.CreateGenerator();
        var expected = await first.GenerateAsync(texts, cancellationToken: TestContext.Current.CancellationToken);

        var calls = Enumerable.Range(0, 8).Select(c => Task.Run(async () =>
        {
            var slice = texts.Skip(c * 12).Take(12 + c).ToArray();
            var generator = c % 2 == 0 ? first : second;
            return (Offset: c * 12, Result: await generator.GenerateAsync(slice, cancellationToken: TestContext.Current.CancellationToken));
        }));
        var results = await Task.WhenAll(calls);

        Assert.Same(ModelSession.Get(LocalModels.ArcticEmbedXs, LocalEmbeddingDefaults.IntraOpThreads), ModelSession.Get(LocalModels.ArcticEmbedXs with { QueryPrefix = null }, LocalEmbeddingDefaults.IntraOpThreads));
        foreach (var (offset, result) in results)
        {
            for (var i = 0; i < result.Count; i++)
            {
                Assert.True(Cosine.Of(expected[offset + i].Vector.Span, result[i].Vector.Span) > 0.99999f);
            }
        }
    }

    [Fact]
    public async Task GenerateAsync_OtherDimensionsAsked_IsAConfigurationError()
    {
        using var generator = LocalModels.AllMiniLmL6V2.CreateGenerator();

        await Assert.ThrowsAsync<EmbeddingConfigurationException>(() => generator.GenerateAsync(["text"], new EmbeddingGenerationOptions { Dimensions = 768 }, TestContext.Current.CancellationToken));
    }

    [Fact]
    public void ToEmbeddingModel_Arctic_CarriesTheQueryPrefixAndTheGraphsDimensions()
    {
        var model = LocalModels.ArcticEmbedXs.ToEmbeddingModel();

        Assert.Equal("arctic-embed-xs", model.Name);
        Assert.Equal(384, model.Dimensions);
        Assert.Equal(LocalModels.ArcticQueryPrefix, model.QueryPrefix);
        Assert.Null(model.DocumentPrefix);
        Assert.Equal(1, model.MaxConcurrentBatches);
    }
}
