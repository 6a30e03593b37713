using EmbeddingKit.Tasks;

namespace EmbeddingKit.Storage;

/// <summary>One vector to store, L2-normalized and in fp16.</summary>
/// <param name="Key">Which entity and model.</param>
/// <param name="Vector">The normalized vector.</param>
/// <param name="ContentHash">The hash of the document it was embedded from.</param>
/// <param name="Generation">The task generation it was computed for. Storage refuses to replace a newer generation.</param>
public sealed record EmbeddingRecord(EmbeddingTaskKey Key, ReadOnlyMemory<Half> Vector, byte[] ContentHash, long Generation)
{
    /// <summary>Gets the entity's lexical document, which a storage that keeps a lexical index writes in the same
    /// transaction as the vector (keyed by entity, not model); null for none (multimodal input).</summary>
    public LexicalDocument? Lexical { get; init; }
}
