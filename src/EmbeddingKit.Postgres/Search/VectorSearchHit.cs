namespace EmbeddingKit.Postgres.Search;

/// <summary>One search result.</summary>
/// <param name="EntityType">The entity type.</param>
/// <param name="EntityId">The entity id.</param>
/// <param name="Score">The cosine similarity to the query (for normalized vectors, the negated inner product), from -1
/// to 1, higher is nearer.</param>
public sealed record VectorSearchHit(string EntityType, string EntityId, double Score);
