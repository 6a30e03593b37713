using EmbeddingKit.Tasks;

namespace EmbeddingKit.Storage;

/// <summary>
/// Where vectors live, keyed by <c>(entity_type, entity_id, model, chunk)</c> (an entity that is not chunked is chunk 0).
/// EmbeddingKit.Postgres has a ready pgvector implementation; a host may implement this on its own schema instead.
/// </summary>
/// <remarks>Every write is guarded by generation: a write for an older generation than the stored one changes nothing,
/// so a stalled worker can never overwrite a newer vector. Touch and delete act on every chunk of an entity. A chunked
/// entity's records carry <see cref="EmbeddingRecord.Chunk"/>, its span, <see cref="EmbeddingRecord.ChunkCount"/> (delete
/// the chunks beyond it in the same transaction) and may ask to <see cref="EmbeddingRecord.ReuseStoredVector"/>; a
/// storage that keeps one vector per entity can leave chunking off in its models.</remarks>
public interface IEmbeddingStorage
{
    /// <summary>Reads the stored content hash and generation of the given entities, in one round trip.</summary>
    /// <returns>An entry for each entity that has a stored vector for the model.</returns>
    ValueTask<IReadOnlyDictionary<string, StoredEmbeddingState>> GetStatesAsync(
        string entityType, string model, IReadOnlyCollection<string> entityIds, CancellationToken cancellationToken = default);

    /// <summary>Inserts or replaces vectors in one round trip, unless the stored generation is newer.</summary>
    /// <returns>The number of rows written. Report it truthfully: when it is less than asked, the runtime reads the states
    /// back and completes only the tasks whose vector is stored at their generation and content. An implementation should
    /// also refuse to insert a vector whose task is no longer outstanding at that generation (deleted, cancelled or
    /// retired since), as the pgvector storage does with <c>TaskQueueSchema</c>: otherwise a worker that froze past its
    /// lease can resurrect a deleted entity's vector.</returns>
    ValueTask<int> UpsertAsync(IReadOnlyList<EmbeddingRecord> records, CancellationToken cancellationToken = default);

    /// <summary>Raises the stored generation of unchanged content (the provider call was skipped) so that an older
    /// generation can no longer overwrite it.</summary>
    /// <returns>The number of rows touched.</returns>
    ValueTask<int> TouchAsync(IReadOnlyList<(EmbeddingTaskKey Key, long Generation)> keys, CancellationToken cancellationToken = default);

    /// <summary>Deletes stored vectors (the entity is gone), unless a newer generation was stored since.</summary>
    /// <returns>The number of rows deleted.</returns>
    ValueTask<int> DeleteAsync(IReadOnlyList<(EmbeddingTaskKey Key, long Generation)> keys, CancellationToken cancellationToken = default);

    /// <summary>Writes the lexical documents of entities whose vectors are unchanged (a lexical index added after they
    /// were embedded), unless a newer generation wrote them. The default does nothing (a storage without a lexical index).</summary>
    /// <returns>The number of documents written.</returns>
    ValueTask<int> WriteLexicalAsync(IReadOnlyList<(EmbeddingTaskKey Key, long Generation, LexicalDocument Document)> documents, CancellationToken cancellationToken = default) =>
        ValueTask.FromResult(0);
}
