namespace EmbeddingKit.Storage;

/// <summary>One stored chunk of an entity: its number, the hash of the text it was embedded from, the generation it was
/// written at, and its span in the document (null for an entity that is not chunked).</summary>
/// <param name="Chunk">The chunk's number, from 0.</param>
/// <param name="ContentHash">The hash of the chunk's embedded text.</param>
/// <param name="Generation">The task generation it was written for.</param>
/// <param name="Start">The offset of the chunk's span in the document, or null.</param>
/// <param name="Length">The length of the span, or null.</param>
public sealed record StoredChunk(int Chunk, byte[] ContentHash, long Generation, int? Start, int? Length);
