using EmbeddingKit.Embedders;
using EmbeddingKit.Vectors;
using Microsoft.Extensions.AI;

namespace EmbeddingKit.Tests.Embedders;

public sealed class HashingEmbeddingGeneratorTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task GenerateAsync_SameText_SameVectorAcrossInstances()
    {
        using var first = new HashingEmbeddingGenerator();
        using var second = new HashingEmbeddingGenerator();

        var a = await first.GenerateAsync(["The quick brown fox jumps over the lazy dog"], cancellationToken: Ct);
        var b = await second.GenerateAsync(["The quick brown fox jumps over the lazy dog"], cancellationToken: Ct);

        Assert.Equal(a[0].Vector.ToArray(), b[0].Vector.ToArray());
        Assert.Equal(384, a[0].Vector.Length);
        Assert.Equal("hashing-384", a[0].ModelId);
    }

    [Fact]
    public async Task GenerateAsync_FixedText_MatchesPinnedValues()
    {
        // Pins the hash: vectors must not change between versions, or stored embeddings silently drift.
        using var generator = new HashingEmbeddingGenerator(16);

        var vector = (await generator.GenerateAsync(["hello world"], cancellationToken: Ct))[0].Vector.ToArray();

        Assert.Equal(PinnedHelloWorld16, vector.Select(v => MathF.Round(v, 4)).ToArray());
    }

    // Computed once from this implementation (FNV-1a + fmix32, words weight 1, 3/4-grams weight 0.5).
    private static readonly float[] PinnedHelloWorld16 =
        [0.5669f, -0.378f, 0.189f, -0.189f, 0.189f, -0.378f, -0.189f, -0.189f, -0.189f, -0.189f, 0.189f, 0.189f, 0f, -0.189f, 0.189f, 0f];

    [Theory]
    [InlineData(2)]
    [InlineData(64)]
    [InlineData(384)]
    [InlineData(1536)]
    public async Task GenerateAsync_AnyDimensions_ReturnsUnitVectors(int dimensions)
    {
        using var generator = new HashingEmbeddingGenerator(dimensions);

        var result = await generator.GenerateAsync(["short", "a much longer text with many different words in it", "!!!", "数据库 向量"], cancellationToken: Ct);

        Assert.All(result, e =>
        {
            Assert.Equal(dimensions, e.Vector.Length);
            Assert.InRange(VectorMath.Norm(e.Vector.Span), 0.9999f, 1.0001f);
        });
    }

    [Fact]
    public async Task GenerateAsync_CaseAndPunctuation_DoNotChangeTheVector()
    {
        using var generator = new HashingEmbeddingGenerator();

        var result = await generator.GenerateAsync(["Hello, World!", "hello world"], cancellationToken: Ct);

        Assert.Equal(result[0].Vector.ToArray(), result[1].Vector.ToArray());
    }

    [Fact]
    public async Task GenerateAsync_SharedWords_ScoreHigherThanUnrelated()
    {
        using var generator = new HashingEmbeddingGenerator();

        var result = await generator.GenerateAsync(
            ["postgres vector search with embeddings", "vector search in postgres", "banana bread recipe with walnuts"], cancellationToken: Ct);

        var related = VectorMath.CosineSimilarity(result[0].Vector.Span, result[1].Vector.Span);
        var unrelated = VectorMath.CosineSimilarity(result[0].Vector.Span, result[2].Vector.Span);
        Assert.True(related > unrelated + 0.2f, $"related {related}, unrelated {unrelated}");
    }

    [Fact]
    public async Task GenerateAsync_MisspelledWord_StillCloseThanksToCharacterNgrams()
    {
        using var generator = new HashingEmbeddingGenerator();

        var result = await generator.GenerateAsync(["embedding", "embeding", "tomato"], cancellationToken: Ct);

        Assert.True(VectorMath.CosineSimilarity(result[0].Vector.Span, result[1].Vector.Span) > VectorMath.CosineSimilarity(result[0].Vector.Span, result[2].Vector.Span) + 0.3f);
    }

    [Theory]
    [InlineData("")]
    [InlineData("   \t\n")]
    [InlineData(null)]
    public async Task GenerateAsync_BlankText_ThrowsArgumentExceptionNamingPosition(string? text)
    {
        using var generator = new HashingEmbeddingGenerator();

        var ex = await Assert.ThrowsAsync<ArgumentException>(() => generator.GenerateAsync(["ok", text!], cancellationToken: Ct));

        Assert.Contains("Input 1 ", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GenerateAsync_OtherDimensionsAsked_Throws()
    {
        using var generator = new HashingEmbeddingGenerator(64);

        await Assert.ThrowsAsync<ArgumentException>(() => generator.GenerateAsync(["x"], new EmbeddingGenerationOptions { Dimensions = 32 }, Ct));
    }

    [Fact]
    public void Constructor_DimensionsOutOfRange_Throws()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new HashingEmbeddingGenerator(1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new HashingEmbeddingGenerator(70000));
    }

    [Fact]
    public void GetService_Metadata_NamesModelAndDimensions()
    {
        using var generator = new HashingEmbeddingGenerator(128);

        var metadata = generator.GetService<EmbeddingGeneratorMetadata>();

        Assert.NotNull(metadata);
        Assert.Equal("hashing-128", metadata.DefaultModelId);
        Assert.Equal(128, metadata.DefaultModelDimensions);
        Assert.Same(generator, generator.GetService<HashingEmbeddingGenerator>());
    }

    [Fact]
    public async Task GenerateAsync_ParallelCallers_GetTheSameVectorsAsSequential()
    {
        using var generator = new HashingEmbeddingGenerator();
        var texts = Enumerable.Range(0, 200).Select(i => $"parallel text {i} with words {i * 7}").ToArray();
        var sequential = (await generator.GenerateAsync(texts, cancellationToken: Ct)).Select(e => e.Vector.ToArray()).ToArray();

        var parallel = await Task.WhenAll(texts.Select(t => Task.Run(() => generator.GenerateAsync([t], cancellationToken: Ct), Ct)));

        for (var i = 0; i < texts.Length; i++)
        {
            Assert.Equal(sequential[i], parallel[i][0].Vector.ToArray());
        }
    }
}
