namespace EmbeddingKit.Postgres.Search;

/// <summary>One search hit.</summary>
/// <param name="EntityId">The entity id.</param>
/// <param name="Score">Cosine similarity for a vector path's own hits (1 is identical); for fused hits (hybrid, lexical,
/// or a rollout's fallback), the fused score (<see cref="HybridSearchHit.Score"/>); for a host lexical search's hits, a rank-based score in
/// (0, 1]. Scores of different kinds are not comparable.</param>
/// <param name="Model">The model that answered (null for lexical hits).</param>
/// <param name="Path">Which path answered: <c>two-stage</c>, <c>hnsw</c>, <c>exact</c>, <c>hybrid</c>, <c>lexical</c>,
/// <c>fallback-model</c> or <c>fallback-lexical</c>.</param>
public sealed record EmbeddingSearchHit(string EntityId, double Score, string? Model, string Path)
{
    /// <summary>Gets the hit's rank (1 is first) in the active model's list of a fused search, or null.</summary>
    public int? VectorRank { get; init; }

    /// <summary>Gets the hit's rank in the previous model's list of a fused search (during a rollout), or null.</summary>
    public int? FallbackRank { get; init; }

    /// <summary>Gets the hit's rank in the lexical list of a fused search, or null.</summary>
    public int? LexicalRank { get; init; }

    /// <summary>Gets the number of the entity's chunk that matched best (0 for an entity that is not chunked, or a hit
    /// only the lexical index found).</summary>
    public int Chunk { get; init; }

    /// <summary>Gets the offset of the best chunk's span in the entity's document: the snippet to show. Null when the
    /// entity is not chunked or the hit has no chunk (show the document's start).</summary>
    public int? SnippetStart { get; init; }

    /// <summary>Gets the length of the snippet's span, or null.</summary>
    public int? SnippetLength { get; init; }

    /// <summary>Gets the entity's document text, read in the search's own round trip when the service has
    /// <see cref="EmbeddingSearchService.DocumentTexts"/>; null otherwise.</summary>
    public string? Text { get; init; }
}
