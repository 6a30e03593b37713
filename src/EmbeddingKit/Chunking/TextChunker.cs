using System.Buffers;

namespace EmbeddingKit.Chunking;

/// <summary>
/// Cuts a document into chunks of at most <see cref="TextChunkerOptions.MaxTokens"/> tokens of a model's tokenizer,
/// with <see cref="TextChunkerOptions.OverlapTokens"/> of overlap: each chunk ends at the last paragraph break (a blank
/// line) that keeps it at least half full, else at the last sentence end that does, else at the last word that fits;
/// it never ends mid-word, except inside a single "word" longer than a chunk (a run without spaces: CJK text, a URL, a
/// base64 blob), which is cut at token boundaries (CJK text also at <c>。！？</c>). An optional title is put before every
/// chunk and counted. Every chunk carries the span of the document it covers. Thread-safe.
/// </summary>
/// <remarks>
/// Each word is counted once, with the whitespace before it (byte-pair tokenizers such as cl100k fold a leading space
/// into the word's token; WordPiece ignores it), and a chunk's count is the sum of its words': linear in the document,
/// no allocation per token.
/// </remarks>
public sealed class TextChunker
{
    private const byte Inside = 0;
    private const byte Word = 1;
    private const byte Sentence = 2;
    private const byte Paragraph = 3;

    // How far past a piece's start a cut of an over-long word is looked for: no token spans more characters than this.
    private const int MaxCharsPerToken = 64;

    private readonly ITokenCounter _counter;
    private readonly int _maxTokens;
    private readonly int _overlap;
    private readonly string _separator;

    /// <summary>Creates a chunker.</summary>
    /// <param name="counter">The model's token counter.</param>
    /// <param name="options">The sizes; default <see cref="TextChunkerOptions"/>'s defaults.</param>
    /// <exception cref="EmbeddingConfigurationException">An option is out of range.</exception>
    public TextChunker(ITokenCounter counter, TextChunkerOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(counter);
        options ??= new TextChunkerOptions();
        options.Validate();
        _counter = counter;
        _maxTokens = options.MaxTokens;
        _overlap = options.OverlapTokens;
        _separator = options.TitleSeparator;
    }

    /// <summary>Gets the token counter.</summary>
    public ITokenCounter Counter => _counter;

    /// <summary>Gets the most tokens of one chunk, title included.</summary>
    public int MaxTokens => _maxTokens;

    /// <summary>Gets the overlap in tokens.</summary>
    public int OverlapTokens => _overlap;

    /// <summary>Cuts <paramref name="text"/> into chunks.</summary>
    /// <param name="text">The document.</param>
    /// <param name="title">A title or heading put before every chunk (with the title separator), or null.</param>
    /// <returns>The chunks in document order; none when the text is empty or whitespace only. A text that fits is one
    /// chunk (its span without the surrounding whitespace).</returns>
    public IReadOnlyList<TextChunk> Chunk(string text, string? title = null)
    {
        ArgumentNullException.ThrowIfNull(text);
        var titleTokens = 0;
        var prefix = string.Empty;
        if (!string.IsNullOrWhiteSpace(title))
        {
            prefix = title.Trim() + _separator;
            titleTokens = _counter.CountTokens(prefix);
        }

        // A title that leaves less than a quarter of a chunk would make every chunk mostly title: cut the text as if
        // the quarter were there (the chunk may then exceed MaxTokens by the title's excess).
        var budget = Math.Max(_maxTokens - titleTokens, _maxTokens / 4);
        var units = new UnitList(ArrayPool<Unit>.Shared.Rent(Math.Max(16, text.Length / 5)));
        try
        {
            Segment(text, budget, ref units);
            return units.Count == 0 ? [] : Pack(text, prefix, titleTokens, budget, units.Items.AsSpan(0, units.Count));
        }
        finally
        {
            ArrayPool<Unit>.Shared.Return(units.Items);
        }
    }

    /// <summary>Splits the text into words (runs without whitespace, cut after CJK sentence ends and, when longer than a
    /// piece, at token boundaries), each with its tokens and the strength of the break before it.</summary>
    private void Segment(string text, int budget, ref UnitList units)
    {
        var piece = Math.Max(1, budget / 4);
        var position = 0;
        var previousEnd = 0;
        var sentenceEnded = true;
        while (position < text.Length)
        {
            var newlines = 0;
            while (position < text.Length && char.IsWhiteSpace(text[position]))
            {
                newlines += text[position] == '\n' ? 1 : 0;
                position++;
            }

            if (position == text.Length)
            {
                break;
            }

            var start = position;
            var cjkEnd = false;
            while (position < text.Length && !char.IsWhiteSpace(text[position]))
            {
                if (IsCjkSentenceEnd(text[position++]))
                {
                    cjkEnd = true;
                    break;
                }
            }

            var strength = units.Count == 0 || newlines >= 2 ? Paragraph : sentenceEnded ? Sentence : Word;
            var tokens = _counter.CountTokens(text.AsSpan(previousEnd, position - previousEnd));
            if (tokens <= budget)
            {
                units.Add(new Unit(start, position, tokens, strength));
            }
            else
            {
                SplitLongWord(text, previousEnd, start, position, piece, strength, ref units);
            }

            sentenceEnded = cjkEnd || EndsSentence(text.AsSpan(start, position - start));
            previousEnd = position;
        }
    }

    /// <summary>Cuts one over-long word into pieces of at most <paramref name="piece"/> tokens: each piece ends at the
    /// longest prefix the counter counts within the limit (a token boundary), never inside a surrogate pair.</summary>
    private void SplitLongWord(string text, int whitespaceStart, int start, int end, int piece, byte strength, ref UnitList units)
    {
        var countFrom = whitespaceStart;
        while (start < end)
        {
            // The longest prefix [start, cut) within the limit: gallop from `piece` characters, then bisect.
            var good = start + 1;
            var bad = -1;
            var probe = Math.Min(end, start + piece);
            while (true)
            {
                if (Fits(text, countFrom, probe, piece))
                {
                    good = probe;
                    if (probe == end || probe - start >= piece * MaxCharsPerToken)
                    {
                        break;
                    }

                    probe = (int)Math.Min(end, start + (2L * (probe - start)));
                }
                else
                {
                    bad = probe;
                    break;
                }
            }

            if (bad > 0)
            {
                var low = good + 1;
                var high = bad - 1;
                while (low <= high)
                {
                    var middle = low + ((high - low) / 2);
                    if (Fits(text, countFrom, middle, piece))
                    {
                        good = middle;
                        low = middle + 1;
                    }
                    else
                    {
                        high = middle - 1;
                    }
                }
            }

            var best = good;
            if (best < end && char.IsHighSurrogate(text[best - 1]) && char.IsLowSurrogate(text[best]))
            {
                best = best - 1 > start ? best - 1 : best + 1;
            }

            units.Add(new Unit(start, best, _counter.CountTokens(text.AsSpan(countFrom, best - countFrom)), strength));
            strength = Inside;
            start = best;
            countFrom = best;
        }
    }

    private bool Fits(string text, int from, int to, int limit) => _counter.CountTokens(text.AsSpan(from, to - from)) <= limit;

    private List<TextChunk> Pack(string text, string prefix, int titleTokens, int budget, ReadOnlySpan<Unit> units)
    {
        // sums[i]: tokens of units [0, i).
        var sums = ArrayPool<long>.Shared.Rent(units.Length + 1);
        try
        {
            sums[0] = 0;
            for (var i = 0; i < units.Length; i++)
            {
                sums[i + 1] = sums[i] + units[i].Tokens;
            }

            var chunks = new List<TextChunk>((int)Math.Min(units.Length, (sums[units.Length] / Math.Max(1, budget - _overlap)) + 1));
            var start = 0;
            while (start < units.Length)
            {
                // The most units that fit (at least one).
                var fit = start + 1;
                while (fit < units.Length && sums[fit + 1] - sums[start] <= budget)
                {
                    fit++;
                }

                var end = fit == units.Length ? fit : BestEnd(units, sums, start, fit, budget);
                var spanStart = units[start].Start;
                var spanEnd = units[end - 1].End;
                var body = text.AsSpan(spanStart, spanEnd - spanStart);
                chunks.Add(new TextChunk(chunks.Count, spanStart, spanEnd - spanStart, titleTokens + (int)(sums[end] - sums[start]), string.Concat(prefix, body)));
                if (end == units.Length)
                {
                    break;
                }

                start = OverlapStart(units, sums, start, end);
            }

            return chunks;
        }
        finally
        {
            ArrayPool<long>.Shared.Return(sums);
        }
    }

    /// <summary>Where a chunk of units [start, fit) should end: before the last paragraph break, else sentence, else
    /// word, that leaves it at least half full; else at <paramref name="fit"/> (inside a long word).</summary>
    private static int BestEnd(ReadOnlySpan<Unit> units, long[] sums, int start, int fit, int budget)
    {
        var half = budget / 2;
        for (var strength = Paragraph; strength >= Word; strength--)
        {
            for (var k = fit; k > start; k--)
            {
                if (sums[k] - sums[start] < half)
                {
                    break;
                }

                if (units[k].Strength >= strength)
                {
                    return k;
                }
            }
        }

        // No break in the upper half: the last word break at all, else the fit (a long word's pieces).
        for (var k = fit; k > start; k--)
        {
            if (units[k].Strength >= Word)
            {
                return k;
            }
        }

        return fit;
    }

    /// <summary>Where the chunk after units [start, end) begins: far enough back to repeat about
    /// <see cref="OverlapTokens"/> tokens, moved forward to a sentence start inside that stretch if there is one, and
    /// always after <paramref name="start"/>.</summary>
    private int OverlapStart(ReadOnlySpan<Unit> units, long[] sums, int start, int end)
    {
        if (_overlap == 0)
        {
            return end;
        }

        var next = end;
        while (next - 1 > start && sums[end] - sums[next - 1] <= _overlap)
        {
            next--;
        }

        for (var k = next; k < end; k++)
        {
            if (units[k].Strength >= Sentence)
            {
                return k;
            }
        }

        // No sentence start: begin at a word, not inside a long word's pieces.
        for (var k = next; k < end; k++)
        {
            if (units[k].Strength >= Word)
            {
                return k;
            }
        }

        return next;
    }

    private static bool EndsSentence(ReadOnlySpan<char> word)
    {
        var trimmed = word.TrimEnd("\"')]}»”’");
        return trimmed.Length > 0 && trimmed[^1] is '.' or '!' or '?' or '…' or '。' or '！' or '？';
    }

    private static bool IsCjkSentenceEnd(char c) => c is '。' or '！' or '？' or '；';

    private readonly record struct Unit(int Start, int End, int Tokens, byte Strength);

    /// <summary>A growable list over pooled arrays (one array per document, not per word).</summary>
    private struct UnitList(Unit[] items)
    {
        public Unit[] Items = items;
        public int Count;

        public void Add(Unit unit)
        {
            if (Count == Items.Length)
            {
                var larger = ArrayPool<Unit>.Shared.Rent(Items.Length * 2);
                Items.AsSpan(0, Count).CopyTo(larger);
                ArrayPool<Unit>.Shared.Return(Items);
                Items = larger;
            }

            Items[Count++] = unit;
        }
    }
}
