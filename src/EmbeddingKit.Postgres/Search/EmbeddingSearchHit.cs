namespace EmbeddingKit.Postgres.Search;

/// <summary>One search hit.</summary>
/// <param name="EntityId">The entity id.</param>
/// <param name="Score">Cosine similarity for vector paths (1 is identical); for lexical fallback hits, a rank-based score
/// in (0, 1] that is not comparable with similarities.</param>
/// <param name="Model">The model that answered (null for lexical hits).</param>
/// <param name="Path">Which path answered: <c>two-stage</c>, <c>hnsw</c>, <c>exact</c>, <c>fallback-model</c> or
/// <c>fallback-lexical</c>.</param>
public sealed record EmbeddingSearchHit(string EntityId, double Score, string? Model, string Path);
