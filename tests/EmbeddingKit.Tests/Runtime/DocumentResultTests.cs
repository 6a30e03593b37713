using EmbeddingKit.Chunking;
using EmbeddingKit.Runtime;

namespace EmbeddingKit.Tests.Runtime;

public sealed class DocumentResultTests
{
    [Fact]
    public void Chunked_ChunkTexts_DocumentIsTheirJoinAndSpansPointIntoIt()
    {
        var result = DocumentResult.Chunked(["# Intro\nFirst part.", "# Usage\nSecond part."]);

        Assert.Equal("# Intro\nFirst part.\n\n# Usage\nSecond part.", result.Content);
        Assert.NotNull(result.Chunks);
        Assert.All(result.Chunks, c => Assert.Equal(c.Text, result.Content![c.Start..c.End]));
        Assert.Equal([0, 1], result.Chunks.Select(c => c.Index));
        Assert.False(result.IsGone);
    }

    [Fact]
    public void Text_WholeText_HasNoChunks()
    {
        var result = DocumentResult.Text("whole");

        Assert.Null(result.Chunks);
        Assert.Equal("whole", result.Content);
    }

    [Fact]
    public void Chunked_SpanOutsideTheText_Throws()
    {
        Assert.Throws<ArgumentException>(() => DocumentResult.Chunked("short", [new TextChunk(0, 2, 10, 0, "x")]));
    }

    [Fact]
    public void Chunked_ChunksOutOfOrder_Throws()
    {
        Assert.Throws<ArgumentException>(() => DocumentResult.Chunked("ab", [new TextChunk(1, 0, 1, 0, "a")]));
    }

    [Fact]
    public void Chunked_NoChunksOrABlankOne_Throws()
    {
        Assert.Throws<ArgumentException>(() => DocumentResult.Chunked(Array.Empty<string>()));
        Assert.Throws<ArgumentException>(() => DocumentResult.Chunked(["a", " "]));
    }
}
