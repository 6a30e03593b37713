using EmbeddingKit.Tasks;

namespace EmbeddingKit.Storage;

/// <summary>One vector to store, L2-normalized and in fp16.</summary>
/// <param name="Key">Which entity and model.</param>
/// <param name="Vector">The normalized vector.</param>
/// <param name="ContentHash">The hash of the document it was embedded from.</param>
/// <param name="Generation">The task generation it was computed for. Storage refuses to replace a newer generation.</param>
public sealed record EmbeddingRecord(EmbeddingTaskKey Key, ReadOnlyMemory<Half> Vector, byte[] ContentHash, long Generation);
