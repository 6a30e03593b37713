using EmbeddingKit.Hosting;
using EmbeddingKit.Onnx.Internal;
using EmbeddingKit.Runtime;
using Microsoft.Extensions.DependencyInjection;

namespace EmbeddingKit.Onnx.Tests;

public sealed class LocalModelInt8Tests
{
    public static TheoryData<string, string> Pairs => new()
    {
        { LocalModels.AllMiniLmL6V2Name, LocalModels.AllMiniLmL6V2Int8Name },
        { LocalModels.ArcticEmbedXsName, LocalModels.ArcticEmbedXsInt8Name },
    };

    [Theory]
    [MemberData(nameof(Pairs))]
    public async Task CreateGenerator_Int8Preset_StaysCloseToTheFp32PresetOnOneHundredSentences(string exactName, string quantizedName)
    {
        var texts = Sentences.All.ToArray();
        using var exact = LocalModels.Find(exactName)!.CreateGenerator();
        using var quantized = LocalModels.Find(quantizedName)!.CreateGenerator();

        var a = await exact.GenerateAsync(texts, cancellationToken: TestContext.Current.CancellationToken);
        var b = await quantized.GenerateAsync(texts, cancellationToken: TestContext.Current.CancellationToken);

        // Measured: lowest 0.99 (all-MiniLM-L6-v2) and 0.998 (arctic-embed-xs) on these sentences and on 156 Debian
        // package descriptions. Not the same vectors: the int8 model is another model for stored vectors.
        var cosines = Enumerable.Range(0, texts.Length).Select(i => Cosine.Of(a[i].Vector.Span, b[i].Vector.Span)).ToArray();
        Assert.True(cosines.Min() >= 0.98f, $"lowest cosine against fp32: {cosines.Min()}");
        Assert.True(cosines.Min() < 0.99999f, "the int8 preset gave the fp32 vectors: its graph was not quantized");
        Assert.Equal(384, b[0].Vector.Length);
    }

    [Fact]
    public async Task GenerateAsync_Int8ShortTextInABatchOfLongOnes_StaysCloseToItsVectorAlone()
    {
        // DynamicQuantizeMatMul quantizes its activations with one scale per run, so unlike fp32 (the same vector to
        // 1e-5, LocalModelTests) an int8 vector depends a little on its batch-mates and their padding. Measured: 0.991.
        using var generator = LocalModels.AllMiniLmL6V2Int8.CreateGenerator(new LocalEmbeddingOptions { BatchSize = 4 });
        var shortText = "cinnamon rolls";
        string[] batch = [Sentences.All[0] + " " + Sentences.All[1] + " " + Sentences.All[2], shortText, Sentences.All[3] + " " + Sentences.All[4]];

        var alone = await generator.GenerateAsync([shortText], cancellationToken: TestContext.Current.CancellationToken);
        var mixed = await generator.GenerateAsync(batch, cancellationToken: TestContext.Current.CancellationToken);

        Assert.True(Cosine.Of(alone[0].Vector.Span, mixed[1].Vector.Span) > 0.98f);
    }

    [Fact]
    public void Find_Int8Name_IsTheFp32PresetWithInt8Weights()
    {
        var int8 = LocalModels.Find(" Arctic-Embed-XS-int8 ")!;

        Assert.Equal(LocalModels.ArcticEmbedXsInt8, int8);
        Assert.Equal(LocalModelWeights.Int8, int8.Weights);
        Assert.Equal(LocalModels.ArcticEmbedXs with { Name = LocalModels.ArcticEmbedXsInt8Name, Weights = LocalModelWeights.Int8 }, int8);
        Assert.Equal(LocalModelWeights.Float32, LocalModels.ArcticEmbedXs.Weights);
        Assert.Equal(LocalModelWeights.Int8, LocalModels.Find(LocalModels.AllMiniLmL6V2Int8Name)!.Weights);
    }

    [Fact]
    public void Get_SameFilesOtherWeights_IsAnotherSession()
    {
        var threads = LocalEmbeddingDefaults.IntraOpThreads;

        var fp32 = ModelSession.Get(LocalModels.AllMiniLmL6V2, threads);
        var int8 = ModelSession.Get(LocalModels.AllMiniLmL6V2Int8, threads);

        Assert.NotSame(fp32, int8);
        Assert.Same(int8, ModelSession.Get(LocalModels.AllMiniLmL6V2 with { Weights = LocalModelWeights.Int8 }, threads));
    }

    [Fact]
    public void Weights_UndefinedValue_IsRefused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => LocalModels.AllMiniLmL6V2 with { Weights = (LocalModelWeights)7 });
    }

    [Fact]
    public void AddLocalModel_Int8PresetName_RegistersItUnderItsOwnName()
    {
        var services = new ServiceCollection();
        services.AddEmbeddingKit().AddLocalModel(LocalModels.ArcticEmbedXsInt8Name);
        using var provider = services.BuildServiceProvider();

        var model = provider.GetRequiredService<EmbeddingModelRegistry>().Get(LocalModels.ArcticEmbedXsInt8Name);

        Assert.Equal(384, model.Dimensions);
        Assert.Equal(LocalModels.ArcticQueryPrefix, model.QueryPrefix);
    }
}
