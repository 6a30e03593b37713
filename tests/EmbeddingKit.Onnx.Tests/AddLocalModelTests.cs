using EmbeddingKit.Hosting;
using EmbeddingKit.Runtime;
using Microsoft.Extensions.DependencyInjection;

namespace EmbeddingKit.Onnx.Tests;

public sealed class AddLocalModelTests
{
    [Fact]
    public void AddLocalModel_PresetName_RegistersTheModelWithItsPrefix()
    {
        var services = new ServiceCollection();
        services.AddEmbeddingKit().AddLocalModel(LocalModels.ArcticEmbedXsName, o => o.BatchSize = 8);
        using var provider = services.BuildServiceProvider();

        var model = provider.GetRequiredService<EmbeddingModelRegistry>().Get(LocalModels.ArcticEmbedXsName);

        Assert.Equal(384, model.Dimensions);
        Assert.Equal(LocalModels.ArcticQueryPrefix, model.QueryPrefix);
        Assert.Equal(32, model.BatchSize);
    }

    [Fact]
    public void AddLocalModel_UnknownPreset_NamesTheKnownOnes()
    {
        var error = Assert.Throws<ArgumentException>(() => new ServiceCollection().AddEmbeddingKit().AddLocalModel("bge-huge"));

        Assert.Contains("all-minilm-l6-v2", error.Message, StringComparison.Ordinal);
    }
}
