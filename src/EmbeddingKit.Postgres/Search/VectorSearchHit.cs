namespace EmbeddingKit.Postgres.Search;

/// <summary>One search result: an entity, with the chunk that matched best.</summary>
/// <param name="EntityType">The entity type.</param>
/// <param name="EntityId">The entity id.</param>
/// <param name="Score">The cosine similarity to the query (for normalized vectors, the negated inner product), from -1
/// to 1, higher is nearer.</param>
public sealed record VectorSearchHit(string EntityType, string EntityId, double Score)
{
    /// <summary>Gets the number of the entity's best chunk (0 for an entity that is not chunked).</summary>
    public int Chunk { get; init; }

    /// <summary>Gets the offset of the best chunk's span in the document (the snippet), or null for an entity that is not
    /// chunked (the snippet is the document's start).</summary>
    public int? ChunkStart { get; init; }

    /// <summary>Gets the length of the best chunk's span, or null.</summary>
    public int? ChunkLength { get; init; }

    /// <summary>Gets the entity's document text from <see cref="VectorSearchOptions.Texts"/> (what the span points into),
    /// or null when no text source was given or the document is not there.</summary>
    public string? Text { get; init; }
}
