using System.Text;
using Microsoft.ML.Tokenizers;

namespace EmbeddingKit.OpenAI.Internal;

/// <summary>Applies a per-input token limit: exact with cl100k_base for OpenAI embedding models, a conservative
/// estimate (UTF-8 bytes / 3) otherwise.</summary>
internal sealed class TokenLimiter
{
    /// <summary>OpenAI's per-input limit for text-embedding-3-* and ada-002.</summary>
    public const int OpenAIModelLimit = 8191;

    private static readonly Lazy<Tokenizer> Cl100k = new(() => TiktokenTokenizer.CreateForModel("text-embedding-3-small"));

    private readonly Tokenizer? _tokenizer;

    private TokenLimiter(int limit, Tokenizer? tokenizer, OverlongInputPolicy policy)
    {
        Limit = limit;
        _tokenizer = tokenizer;
        Policy = policy;
    }

    public int Limit { get; }

    public OverlongInputPolicy Policy { get; }

    public bool IsExact => _tokenizer is not null;

    public static TokenLimiter? Create(string model, int? configuredLimit, OverlongInputPolicy policy)
    {
        var known = IsOpenAIEmbeddingModel(model);
        var limit = configuredLimit ?? (known ? OpenAIModelLimit : (int?)null);
        if (limit is null)
        {
            return null;
        }

        return new TokenLimiter(limit.Value, known ? Cl100k.Value : null, policy);
    }

    public static bool IsOpenAIEmbeddingModel(string model) =>
        model.StartsWith("text-embedding-3-", StringComparison.OrdinalIgnoreCase)
        || model.Equals("text-embedding-ada-002", StringComparison.OrdinalIgnoreCase);

    /// <summary>Returns the text unchanged, truncated, or throws when it is over the limit and the policy is Fail.</summary>
    public string Apply(string text, int position, out int? originalTokens)
    {
        originalTokens = null;

        // Every token covers at least one UTF-8 byte and a char is at most 3 UTF-8 bytes: short texts need no count.
        if ((long)text.Length * 3 <= Limit)
        {
            return text;
        }

        if (_tokenizer is not null)
        {
            var count = _tokenizer.CountTokens(text);
            if (count <= Limit)
            {
                return text;
            }

            originalTokens = count;
            Reject(position, count, exact: true);
            var index = _tokenizer.GetIndexByTokenCount(text, Limit, out _, out _);
            return text[..index];
        }

        var bytes = Encoding.UTF8.GetByteCount(text);
        var estimate = (bytes + 2) / 3;
        if (estimate <= Limit)
        {
            return text;
        }

        originalTokens = estimate;
        Reject(position, estimate, exact: false);
        return TruncateToUtf8Bytes(text, (long)Limit * 3);
    }

    private void Reject(int position, int tokens, bool exact)
    {
        if (Policy == OverlongInputPolicy.Fail)
        {
            var how = exact ? "tokens" : "tokens (estimated)";
            throw new EmbeddingBadInputException($"Input {position} has {tokens} {how}, over the limit of {Limit}.", position);
        }
    }

    private static string TruncateToUtf8Bytes(string text, long maxBytes)
    {
        long bytes = 0;
        var i = 0;
        while (i < text.Length)
        {
            var c = text[i];
            int size, width = 1;
            if (c < 0x80)
            {
                size = 1;
            }
            else if (c < 0x800)
            {
                size = 2;
            }
            else if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                size = 4;
                width = 2;
            }
            else
            {
                size = 3;
            }

            if (bytes + size > maxBytes)
            {
                break;
            }

            bytes += size;
            i += width;
        }

        return text[..i];
    }
}
