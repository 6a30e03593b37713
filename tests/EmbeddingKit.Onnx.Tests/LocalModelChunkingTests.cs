using EmbeddingKit.Chunking;
using Microsoft.Extensions.AI;

namespace EmbeddingKit.Onnx.Tests;

public sealed class LocalModelChunkingTests
{
    private static readonly string LongDocument = string.Join("\n\n", Enumerable.Range(0, 12).Select(p =>
        string.Join(' ', Sentences.All.Skip(p * 8).Take(8).Select(s => s + " Internationalization, unbelievably, complicates tokenization."))));

    [Fact]
    public void CreateTokenCounter_Preset_CountsWordPiecesWithoutSpecialTokens()
    {
        var counter = LocalModels.AllMiniLmL6V2.CreateTokenCounter();

        Assert.Equal(2, counter.CountTokens("Hello world"));
        Assert.Equal(0, counter.CountTokens("   "));
        Assert.True(counter.CountTokens("Internationalization") > 1, "a long rare word is several word pieces");
        Assert.Equal(counter.CountTokens("HELLO"), counter.CountTokens("hello")); // uncased, as the model sees it
    }

    [Fact]
    public void CreateChunker_NoOptions_SizedToTheWindowLessSpecialTokens()
    {
        var chunker = LocalModels.AllMiniLmL6V2.CreateChunker();

        Assert.Equal(510, chunker.MaxTokens);
        Assert.Equal(TextChunkerDefaults.OverlapTokens, chunker.OverlapTokens);
    }

    [Fact]
    public void CreateChunker_DocumentPrefixAndSizeAboveTheWindow_LowersTheSize()
    {
        var model = LocalModels.AllMiniLmL6V2 with { MaxTokens = 128, DocumentPrefix = "passage: " };

        var chunker = model.CreateChunker(new TextChunkerOptions { MaxTokens = 400, OverlapTokens = 16 });

        Assert.Equal(128 - 2 - 2, chunker.MaxTokens); // [CLS], [SEP], "passage" and ":"
        Assert.Equal(16, chunker.OverlapTokens);
    }

    [Fact]
    public async Task Chunk_LongDocument_EveryChunkEmbeddedWithoutTruncation()
    {
        var model = LocalModels.AllMiniLmL6V2 with { MaxTokens = 64 };
        var chunker = model.CreateChunker(new TextChunkerOptions { MaxTokens = 62, OverlapTokens = 8 });
        var counter = chunker.Counter;

        var chunks = chunker.Chunk(LongDocument, title: "Sentences(7)");

        Assert.True(chunks.Count > 20, $"{chunks.Count} chunks");
        Assert.All(chunks, c => Assert.InRange(counter.CountTokens(c.Text), 1, 62));
        using var generator = model.CreateGenerator();
        var embedded = await generator.GenerateAsync(chunks.Select(c => c.Text), cancellationToken: TestContext.Current.CancellationToken);
        Assert.Equal(0, (int)embedded.AdditionalProperties![LocalModel.TruncatedInputsProperty]!);
        Assert.Equal(chunks.Count, embedded.Count);
    }
}
