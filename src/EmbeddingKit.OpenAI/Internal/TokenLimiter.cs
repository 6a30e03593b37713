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

    /// <summary>OpenAI's limit of tokens summed over the inputs of one embeddings request.</summary>
    public const int OpenAIRequestLimit = 300_000;

    /// <summary>The token budget of one request for a model, or null for none.</summary>
    public static int? RequestBudget(string model, int? configured) => configured ?? (IsOpenAIEmbeddingModel(model) ? OpenAIRequestLimit : null);

    /// <summary>Counts the tokens of a text: exact with cl100k_base for OpenAI embedding models, else UTF-8 bytes / 3
    /// rounded up (the estimate <see cref="Apply"/> uses).</summary>
    public static long CountTokens(string model, string text) =>
        IsOpenAIEmbeddingModel(model) ? Cl100k.Value.CountTokens(text) : (Encoding.UTF8.GetByteCount(text) + 2) / 3;

    /// <summary>Splits inputs into requests of at most <paramref name="maxInputs"/> inputs and <paramref name="budget"/>
    /// tokens (an input alone over the budget goes alone: the per-input limit is the check for it). Texts are counted
    /// only when their upper bound (3 tokens per char) could break the budget.</summary>
    public static List<(int Offset, int Count)> PlanRequests(string[] inputs, int maxInputs, int? budget, string model)
    {
        var plans = new List<(int, int)>((inputs.Length / maxInputs) + 1);
        var start = 0;
        long total = 0; // the group's tokens: an upper bound, exact once `exact` is set
        var exact = false;
        for (var i = 0; i < inputs.Length; i++)
        {
            long cost = 0;
            if (budget is int limit)
            {
                cost = exact ? CountTokens(model, inputs[i]) : 3L * inputs[i].Length;
                if (!exact && total + cost > limit)
                {
                    // The bound says it may not fit: count the group and this input exactly.
                    exact = true;
                    total = 0;
                    for (var j = start; j < i; j++)
                    {
                        total += CountTokens(model, inputs[j]);
                    }

                    cost = CountTokens(model, inputs[i]);
                }
            }

            if (i > start && (i - start == maxInputs || total + cost > budget))
            {
                plans.Add((start, i - start));
                start = i;
                total = 0;
                exact = false;
            }

            total += cost;
        }

        if (inputs.Length > start)
        {
            plans.Add((start, inputs.Length - start));
        }

        return plans;
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
