namespace EmbeddingKit.Storage;

/// <summary>What is stored for one key: the hash of the content it was embedded from and the generation it was written at.</summary>
/// <param name="ContentHash">The hash of the embedded document (see <see cref="ContentHash"/>).</param>
/// <param name="Generation">The task generation the vector was written for.</param>
public sealed record StoredEmbeddingState(byte[] ContentHash, long Generation)
{
    /// <summary>Gets whether the entity's lexical document is stored: null when the storage keeps no lexical index. When
    /// false for unchanged content (the index was added after the vector), the runtime writes the document alone through
    /// <see cref="IEmbeddingStorage.WriteLexicalAsync"/>.</summary>
    public bool? HasLexical { get; init; }
}
