using System.Text;
using EmbeddingKit.Chunking;

namespace EmbeddingKit.Tests.Chunking;

public sealed class TextChunkerTests
{
    private static readonly FourCharTokenCounter Counter = new();

    private static TextChunker Chunker(int maxTokens, int overlap = 0) =>
        new(Counter, new TextChunkerOptions { MaxTokens = maxTokens, OverlapTokens = overlap });

    /// <summary>Paragraphs of sentences of words, each word one token ("wordNNN" is 7 chars: 2 tokens; use 4-letter words).</summary>
    private static string Document(int paragraphs, int sentences, int words, int seed = 1)
    {
        var random = new Random(seed);
        var text = new StringBuilder();
        for (var p = 0; p < paragraphs; p++)
        {
            for (var s = 0; s < sentences; s++)
            {
                for (var w = 0; w < words; w++)
                {
                    text.Append((char)('a' + random.Next(26))).Append((char)('a' + random.Next(26))).Append("xy");
                    text.Append(w == words - 1 ? ". " : " ");
                }
            }

            text.Append("\n\n");
        }

        return text.ToString();
    }

    private static void AssertWithinBudgetAndCovering(string text, IReadOnlyList<TextChunk> chunks, int maxTokens)
    {
        Assert.NotEmpty(chunks);
        for (var i = 0; i < chunks.Count; i++)
        {
            var chunk = chunks[i];
            Assert.Equal(i, chunk.Index);
            Assert.InRange(chunk.Tokens, 1, maxTokens);
            Assert.InRange(Counter.CountTokens(chunk.Text), 1, maxTokens);
            Assert.EndsWith(text.Substring(chunk.Start, chunk.Length), chunk.Text, StringComparison.Ordinal);
        }

        // Every non-whitespace character is in some chunk's span.
        var covered = new bool[text.Length];
        foreach (var chunk in chunks)
        {
            covered.AsSpan(chunk.Start, chunk.Length).Fill(true);
        }

        for (var i = 0; i < text.Length; i++)
        {
            Assert.True(covered[i] || char.IsWhiteSpace(text[i]), $"character {i} ('{text[i]}') is in no chunk");
        }
    }

    [Theory]
    [InlineData("")]
    [InlineData("   \n\n\t ")]
    public void Chunk_EmptyOrWhitespace_ReturnsNoChunks(string text)
    {
        Assert.Empty(Chunker(16).Chunk(text));
    }

    [Fact]
    public void Chunk_TextThatFits_OneChunkOfTheTrimmedText()
    {
        var chunks = Chunker(64).Chunk("  \n Hello world. Short text.\n\n ");

        var chunk = Assert.Single(chunks);
        Assert.Equal(new TextChunk(0, 4, 24, 9, "Hello world. Short text."), chunk);
    }

    [Fact]
    public void Chunk_LongDocument_EveryChunkWithinMaxTokensAndTheWholeTextCovered()
    {
        var text = Document(paragraphs: 12, sentences: 5, words: 9);

        var chunks = Chunker(40, overlap: 8).Chunk(text);

        Assert.True(chunks.Count > 10, $"{chunks.Count} chunks");
        AssertWithinBudgetAndCovering(text, chunks, 40);
    }

    [Fact]
    public void Chunk_ParagraphsThatFitTwoAChunk_EndsEveryChunkAtAParagraphBreak()
    {
        // Paragraphs of 3 sentences x 5 words x (1 word + 1 period token at the end) = 18 tokens; 40 tokens hold two.
        var text = Document(paragraphs: 8, sentences: 3, words: 5);

        var chunks = Chunker(40).Chunk(text);

        Assert.Equal(4, chunks.Count);
        foreach (var chunk in chunks)
        {
            Assert.True(chunk.End == text.TrimEnd().Length || text.AsSpan(chunk.End).StartsWith(" \n\n"), $"chunk {chunk.Index} ends mid-paragraph: ...{chunk.Text[^10..]}");
            Assert.Equal(2, chunk.Text.Split("\n\n").Length);
        }
    }

    [Fact]
    public void Chunk_OneLongParagraph_EndsEveryChunkAtASentenceEnd()
    {
        var text = Document(paragraphs: 1, sentences: 20, words: 7);

        var chunks = Chunker(30).Chunk(text);

        Assert.True(chunks.Count >= 5, $"{chunks.Count} chunks");
        foreach (var chunk in chunks)
        {
            Assert.EndsWith(".", chunk.Text, StringComparison.Ordinal);
            Assert.InRange(chunk.Tokens, 15, 30);
        }
    }

    [Fact]
    public void Chunk_WordsOfManyTokensWithoutSentences_NeverEndsOrStartsMidWord()
    {
        var random = new Random(7);
        var text = string.Join(' ', Enumerable.Range(0, 400).Select(_ => new string('q', random.Next(1, 30))));

        var chunks = Chunker(24, overlap: 6).Chunk(text);

        AssertWithinBudgetAndCovering(text, chunks, 24);
        foreach (var chunk in chunks)
        {
            Assert.True(chunk.Start == 0 || text[chunk.Start - 1] == ' ', $"chunk {chunk.Index} starts mid-word");
            Assert.True(chunk.End == text.Length || text[chunk.End] == ' ', $"chunk {chunk.Index} ends mid-word");
        }
    }

    [Fact]
    public void Chunk_WithOverlap_EachChunkRepeatsTheEndOfThePreviousWithinTheOverlap()
    {
        var text = Document(paragraphs: 1, sentences: 1, words: 300);

        var chunks = Chunker(40, overlap: 10).Chunk(text);

        for (var i = 1; i < chunks.Count; i++)
        {
            var previous = chunks[i - 1];
            var current = chunks[i];
            Assert.True(current.Start > previous.Start, "chunks move forward");
            Assert.True(current.Start < previous.End, $"chunk {i} does not overlap chunk {i - 1}");
            Assert.InRange(Counter.CountTokens(text.AsSpan(current.Start, previous.End - current.Start)), 1, 10);
        }
    }

    [Fact]
    public void Chunk_WithoutOverlap_SpansFollowEachOther()
    {
        var text = Document(paragraphs: 3, sentences: 6, words: 8);

        var chunks = Chunker(32).Chunk(text);

        for (var i = 1; i < chunks.Count; i++)
        {
            Assert.True(chunks[i].Start >= chunks[i - 1].End);
            Assert.True(string.IsNullOrWhiteSpace(text[chunks[i - 1].End..chunks[i].Start]));
        }
    }

    [Fact]
    public void Chunk_WithTitle_RepeatsItInEveryChunkAndCountsIt()
    {
        var text = Document(paragraphs: 4, sentences: 4, words: 6);

        var chunks = Chunker(40).Chunk(text, title: " ls(1) ");

        Assert.True(chunks.Count > 2);
        foreach (var chunk in chunks)
        {
            Assert.StartsWith("ls(1)\n\n", chunk.Text, StringComparison.Ordinal);
            Assert.Equal(Counter.CountTokens(chunk.Text), chunk.Tokens);
            Assert.InRange(chunk.Tokens, 1, 40);
            Assert.Equal(text.Substring(chunk.Start, chunk.Length), chunk.Text["ls(1)\n\n".Length..]);
        }
    }

    [Fact]
    public void Chunk_CjkTextWithoutSpaces_CutsAfterSentenceEndsWithinBudget()
    {
        // 30 sentences of 9 ideographs and a full stop: 10 tokens each, no whitespace anywhere.
        var text = string.Concat(Enumerable.Range(0, 30).Select(i => new string((char)('\u4e00' + i), 9) + "。"));

        var chunks = Chunker(32).Chunk(text);

        AssertWithinBudgetAndCovering(text, chunks, 32);
        Assert.All(chunks, c => Assert.EndsWith("。", c.Text, StringComparison.Ordinal));
        Assert.All(chunks, c => Assert.Equal(30, c.Tokens));
    }

    [Fact]
    public void Chunk_HugeSingleWord_CutAtTokenBoundariesCoveringTheWord()
    {
        // One "word" of 2,000 letters: 500 tokens of 4 letters.
        var text = "Intro words here. " + new string('x', 2000) + " and after.";

        var chunks = Chunker(40).Chunk(text);

        AssertWithinBudgetAndCovering(text, chunks, 40);
        var inside = chunks.Where(c => c.Text.StartsWith('x')).ToList();
        Assert.True(inside.Count >= 13, $"{inside.Count} chunks inside the word");
        Assert.All(inside.SkipLast(1), c => Assert.Equal(0, c.Length % 4)); // cut between tokens, not inside one
    }

    [Fact]
    public void Chunk_HugeRunOfEmoji_NeverSplitsASurrogatePair()
    {
        var text = string.Concat(Enumerable.Repeat("😀", 300));

        var chunks = Chunker(16).Chunk(text);

        AssertWithinBudgetAndCovering(text, chunks, 16);
        Assert.All(chunks, c => Assert.True(char.IsHighSurrogate(c.Text[0]) && char.IsLowSurrogate(c.Text[^1])));
    }

    [Fact]
    public void Chunk_SameTextTwice_SameChunks()
    {
        var text = Document(paragraphs: 5, sentences: 5, words: 5, seed: 3);
        var chunker = Chunker(30, overlap: 6);

        Assert.Equal(chunker.Chunk(text), chunker.Chunk(text));
    }

    [Fact]
    public void Chunk_OneParagraphEdited_OtherChunksUnchanged()
    {
        var text = Document(paragraphs: 10, sentences: 3, words: 5, seed: 5);
        var paragraphs = text.Split("\n\n");
        paragraphs[4] = paragraphs[4].Replace("xy", "xz", StringComparison.Ordinal);
        var edited = string.Join("\n\n", paragraphs);
        var chunker = Chunker(40);

        var before = chunker.Chunk(text).Select(c => c.Text).ToList();
        var after = chunker.Chunk(edited).Select(c => c.Text).ToList();

        Assert.Equal(before.Count, after.Count);
        Assert.Equal(1, before.Zip(after).Count(p => p.First != p.Second));
    }

    [Theory]
    [InlineData(7, 0)]
    [InlineData(64, 33)]
    [InlineData(64, -1)]
    public void Constructor_OptionsOutOfRange_Throws(int maxTokens, int overlap)
    {
        var exception = Assert.Throws<EmbeddingConfigurationException>(() => Chunker(maxTokens, overlap));
        Assert.Contains("TextChunkerOptions", exception.Message, StringComparison.Ordinal);
    }
}
