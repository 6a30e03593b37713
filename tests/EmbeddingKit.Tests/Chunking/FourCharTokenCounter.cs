using EmbeddingKit.Chunking;

namespace EmbeddingKit.Tests.Chunking;

/// <summary>A hand-written counter: a run of ASCII letters and digits is one token per 4 characters (rounded up), any
/// other non-whitespace character (punctuation, CJK, an emoji's surrogate pair) is one token, whitespace none. Counts
/// its calls.</summary>
internal sealed class FourCharTokenCounter : ITokenCounter
{
    public int Calls { get; private set; }

    public int CountTokens(ReadOnlySpan<char> text)
    {
        Calls++;
        var tokens = 0;
        var run = 0;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (char.IsAsciiLetterOrDigit(c))
            {
                run++;
                continue;
            }

            tokens += (run + 3) / 4;
            run = 0;
            if (char.IsLowSurrogate(c) && i > 0 && char.IsHighSurrogate(text[i - 1]))
            {
                continue;
            }

            tokens += char.IsWhiteSpace(c) ? 0 : 1;
        }

        return tokens + ((run + 3) / 4);
    }
}
