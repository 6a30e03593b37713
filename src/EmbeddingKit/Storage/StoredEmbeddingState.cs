namespace EmbeddingKit.Storage;

/// <summary>What is stored for one key: the hash of the content it was embedded from and the generation it was written at.</summary>
/// <param name="ContentHash">The hash of the embedded document (see <see cref="ContentHash"/>); for a chunked entity, the
/// hash of chunk 0.</param>
/// <param name="Generation">The task generation the vector was written for; for a chunked entity, the lowest of its
/// chunks'.</param>
public sealed record StoredEmbeddingState(byte[] ContentHash, long Generation)
{
    /// <summary>Gets whether the entity's lexical document is stored: null when the storage keeps no lexical index. When
    /// false for unchanged content (the index was added after the vector), the runtime writes the document alone through
    /// <see cref="IEmbeddingStorage.WriteLexicalAsync"/>.</summary>
    public bool? HasLexical { get; init; }

    /// <summary>Gets every stored chunk of the entity in chunk order, or null when the storage does not keep chunks (the
    /// runtime then takes the state as one unchunked vector, chunk 0). The runtime compares each new chunk's hash with
    /// these to re-embed only the chunks whose text changed.</summary>
    public IReadOnlyList<StoredChunk>? Chunks { get; init; }
}
