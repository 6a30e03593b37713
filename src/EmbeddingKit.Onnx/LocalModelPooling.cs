namespace EmbeddingKit.Onnx;

/// <summary>How a local model turns its token vectors into one sentence vector.</summary>
public enum LocalModelPooling
{
    /// <summary>The mean of the token vectors under the attention mask (sentence-transformers' <c>mean</c>; MiniLM, e5, gte).</summary>
    Mean,

    /// <summary>The vector of the first token, <c>[CLS]</c> (arctic-embed, bge).</summary>
    Cls,
}
