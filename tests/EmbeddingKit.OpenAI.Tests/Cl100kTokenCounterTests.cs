using EmbeddingKit.Chunking;

namespace EmbeddingKit.OpenAI.Tests;

public sealed class Cl100kTokenCounterTests
{
    [Fact]
    public void CountTokens_Text_CountsCl100kTokens()
    {
        Assert.Equal(2, Cl100kTokenCounter.Instance.CountTokens("hello world"));
        Assert.Equal(0, Cl100kTokenCounter.Instance.CountTokens(string.Empty));
    }

    [Fact]
    public void Chunk_LongMixedText_EveryChunkWithinMaxTokensByAFullRecount()
    {
        var paragraph = "Embeddings map text to vectors. 向量搜索很有用。 Die Straße ist naß! URLs like https://example.invalid/a/b?c=d&e=f stay whole.";
        var text = string.Join("\n\n", Enumerable.Range(0, 60).Select(i => $"{i}: {paragraph}")) + " " + new string('z', 3000);
        var chunker = new TextChunker(Cl100kTokenCounter.Instance, new TextChunkerOptions { MaxTokens = 64, OverlapTokens = 8 });

        var chunks = chunker.Chunk(text, title: "Guide");

        Assert.True(chunks.Count > 30, $"{chunks.Count} chunks");
        Assert.All(chunks, c => Assert.InRange(Cl100kTokenCounter.Instance.CountTokens(c.Text), 1, 64));
        Assert.Contains(chunks, c => c.Text.Contains("https://example.invalid/a/b?c=d&e=f stay whole.", StringComparison.Ordinal));
    }
}
