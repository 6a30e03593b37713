using EmbeddingKit.Chunking;
using Microsoft.ML.Tokenizers;

namespace EmbeddingKit.OpenAI;

/// <summary>
/// Counts tokens with cl100k_base, the tokenizer of OpenAI's embedding models (text-embedding-3-small, -3-large,
/// ada-002), for <see cref="TextChunker"/>. The vocabulary ships in the Microsoft.ML.Tokenizers.Data.Cl100kBase package
/// and is loaded on first use. Thread-safe.
/// </summary>
public sealed class Cl100kTokenCounter : ITokenCounter
{
    private static readonly Lazy<Tokenizer> Tokenizer = new(() => TiktokenTokenizer.CreateForModel("text-embedding-3-small"));

    private Cl100kTokenCounter()
    {
    }

    /// <summary>Gets the counter.</summary>
    public static Cl100kTokenCounter Instance { get; } = new();

    /// <inheritdoc />
    public int CountTokens(ReadOnlySpan<char> text) => Tokenizer.Value.CountTokens(text);
}
