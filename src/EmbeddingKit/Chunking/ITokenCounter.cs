namespace EmbeddingKit.Chunking;

/// <summary>
/// Counts the tokens a model's tokenizer makes of a text, without its special tokens (<c>[CLS]</c>, <c>[SEP]</c>).
/// <see cref="TextChunker"/> sizes chunks with it. EmbeddingKit.OpenAI has cl100k_base for OpenAI models;
/// EmbeddingKit.Onnx has each local model's WordPiece vocabulary. Implementations are thread-safe.
/// </summary>
public interface ITokenCounter
{
    /// <summary>The number of tokens of <paramref name="text"/>.</summary>
    /// <param name="text">The text.</param>
    int CountTokens(ReadOnlySpan<char> text);
}
