namespace EmbeddingKit.Storage;

/// <summary>What is stored for one key: the hash of the content it was embedded from and the generation it was written at.</summary>
/// <param name="ContentHash">The hash of the embedded document (see <see cref="ContentHash"/>).</param>
/// <param name="Generation">The task generation the vector was written for.</param>
public sealed record StoredEmbeddingState(byte[] ContentHash, long Generation);
