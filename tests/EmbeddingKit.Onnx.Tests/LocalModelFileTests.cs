namespace EmbeddingKit.Onnx.Tests;

public sealed class LocalModelFileTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("embeddingkit-onnx-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public void CreateGenerator_MissingModelFile_NamesTheFile()
    {
        var vocabulary = WriteVocabulary();
        var missing = Path.Combine(_directory, "nowhere", "model.onnx");

        var error = Assert.Throws<EmbeddingConfigurationException>(() => LocalModel.FromFiles("custom", missing, vocabulary).CreateGenerator());

        Assert.Contains(missing, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void CreateGenerator_CorruptModelFile_NamesTheFile()
    {
        var vocabulary = WriteVocabulary();
        var corrupt = Path.Combine(_directory, "model.onnx");
        File.WriteAllBytes(corrupt, [.. Enumerable.Range(0, 4096).Select(i => (byte)(i * 31))]);

        var error = Assert.Throws<EmbeddingConfigurationException>(() => LocalModel.FromFiles("custom", corrupt, vocabulary).CreateGenerator());

        Assert.Contains(corrupt, error.Message, StringComparison.Ordinal);
        Assert.Contains("not a loadable ONNX model", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(4096)]
    [InlineData(0)]
    public void CreateGenerator_CorruptModelFileWithInt8Weights_NamesTheFile(int length)
    {
        // Garbage, or no bytes at all (an empty protobuf message: a model without a graph).
        var vocabulary = WriteVocabulary();
        var corrupt = Path.Combine(_directory, "model.onnx");
        File.WriteAllBytes(corrupt, [.. Enumerable.Range(0, length).Select(i => (byte)(i * 31))]);
        var model = LocalModel.FromFiles("custom-int8", corrupt, vocabulary) with { Weights = LocalModelWeights.Int8 };

        var error = Assert.Throws<EmbeddingConfigurationException>(() => model.CreateGenerator());

        Assert.Contains(corrupt, error.Message, StringComparison.Ordinal);
        Assert.Contains("not a loadable ONNX model", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void CreateGenerator_MissingVocabularyFile_NamesTheFile()
    {
        var model = Path.Combine(_directory, "model.onnx");
        File.WriteAllBytes(model, [1, 2, 3]);
        var missing = Path.Combine(_directory, "vocab.txt");

        var error = Assert.Throws<EmbeddingConfigurationException>(() => LocalModel.FromFiles("custom", model, missing).CreateGenerator());

        Assert.Contains(missing, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void CreateGenerator_MissingResource_NamesTheResource()
    {
        var model = LocalModels.AllMiniLmL6V2 with { Model = LocalModelFile.FromResource(typeof(LocalModels).Assembly, "No.Such.model.onnx") };

        var error = Assert.Throws<EmbeddingConfigurationException>(() => model.CreateGenerator());

        Assert.Contains("No.Such.model.onnx", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task FromFiles_PresetWeightsCopiedToDisk_LoadAsAnyOtherBertModel()
    {
        var model = Path.Combine(_directory, "model.onnx");
        var vocabulary = Path.Combine(_directory, "vocab.txt");
        await File.WriteAllBytesAsync(model, LocalModels.ArcticEmbedXs.Model.ReadAllBytes(), TestContext.Current.CancellationToken);
        await File.WriteAllBytesAsync(vocabulary, LocalModels.ArcticEmbedXs.Vocabulary.ReadAllBytes(), TestContext.Current.CancellationToken);
        var fromDisk = LocalModel.FromFiles("arctic-from-disk", model, vocabulary, LocalModelPooling.Cls);

        using var generator = fromDisk.CreateGenerator();
        using var preset = LocalModels.ArcticEmbedXs.CreateGenerator();
        var a = await generator.GenerateAsync(["local models load from a path"], cancellationToken: TestContext.Current.CancellationToken);
        var b = await preset.GenerateAsync(["local models load from a path"], cancellationToken: TestContext.Current.CancellationToken);

        Assert.True(Cosine.Of(a[0].Vector.Span, b[0].Vector.Span) > 0.99999f);
    }

    [Fact]
    public void Options_OutOfRange_AreAConfigurationError()
    {
        Assert.Throws<EmbeddingConfigurationException>(() => LocalModels.AllMiniLmL6V2.CreateGenerator(new LocalEmbeddingOptions { BatchSize = 0 }));
        Assert.Throws<EmbeddingConfigurationException>(() => LocalModels.AllMiniLmL6V2.CreateGenerator(new LocalEmbeddingOptions { IntraOpThreads = 0 }));
    }

    private string WriteVocabulary()
    {
        var path = Path.Combine(_directory, "vocab.txt");
        File.WriteAllLines(path, ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world"]);
        return path;
    }
}
