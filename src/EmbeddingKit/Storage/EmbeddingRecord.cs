using EmbeddingKit.Tasks;

namespace EmbeddingKit.Storage;

/// <summary>One vector to store, L2-normalized and in fp16: an entity's only vector (chunk 0, no span) or one chunk of
/// it.</summary>
/// <param name="Key">Which entity and model.</param>
/// <param name="Vector">The normalized vector; empty when <see cref="ReuseStoredVector"/> is set.</param>
/// <param name="ContentHash">The hash of the document (or the chunk's text) it was embedded from.</param>
/// <param name="Generation">The task generation it was computed for. Storage refuses to replace a newer generation.</param>
public sealed record EmbeddingRecord(EmbeddingTaskKey Key, ReadOnlyMemory<Half> Vector, byte[] ContentHash, long Generation)
{
    /// <summary>Gets the entity's lexical document, which a storage that keeps a lexical index writes in the same
    /// transaction as the vector (keyed by entity, not model); null for none (multimodal input, or a chunk other than
    /// the entity's first).</summary>
    public LexicalDocument? Lexical { get; init; }

    /// <summary>Gets the chunk's number, from 0. Default 0 (an entity that is not chunked).</summary>
    public int Chunk { get; init; }

    /// <summary>Gets the offset of the chunk's span in the document, or null (default) for an entity that is not chunked.</summary>
    public int? ChunkStart { get; init; }

    /// <summary>Gets the length of the chunk's span, or null (default).</summary>
    public int? ChunkLength { get; init; }

    /// <summary>Gets the number of chunks the entity has now, or null (default) to leave its other chunks alone. When set,
    /// the storage deletes the entity's stored chunks numbered at or above it in the same transaction as the write, under
    /// the same guards (the document shrank, or stopped being chunked).</summary>
    public int? ChunkCount { get; init; }

    /// <summary>Gets whether the vector is the one already stored for the same entity and model under the same
    /// <see cref="ContentHash"/> (a chunk whose text is unchanged but whose number moved): the storage copies it instead
    /// of the provider embedding it again, and writes nothing when it is no longer there. <see cref="Vector"/> is then
    /// empty. Default false.</summary>
    public bool ReuseStoredVector { get; init; }
}
