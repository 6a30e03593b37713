namespace EmbeddingKit.Postgres.Search;

/// <summary>The results of one search and what answered it.</summary>
/// <param name="Model">The model whose vectors were searched.</param>
/// <param name="Path">The path that answered.</param>
/// <param name="Hits">The results, nearest first.</param>
public sealed record VectorSearchResult(string Model, SearchPath Path, IReadOnlyList<VectorSearchHit> Hits);
