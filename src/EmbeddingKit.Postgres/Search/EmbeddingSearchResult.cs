namespace EmbeddingKit.Postgres.Search;

/// <summary>The answer to a search.</summary>
/// <param name="EntityType">The entity type searched.</param>
/// <param name="Model">The active model that answered.</param>
/// <param name="Hits">The hits, best first.</param>
/// <param name="FallbackUsed">Whether fallback hits were mixed in because the active model's coverage is incomplete.</param>
public sealed record EmbeddingSearchResult(string EntityType, string Model, IReadOnlyList<EmbeddingSearchHit> Hits, bool FallbackUsed)
{
    /// <summary>Gets why the fallback for entities the active model lacks could not run (the previous model's provider or
    /// the lexical search failed), in which case <see cref="Hits"/> are the active model's alone; null otherwise. Never
    /// holds a secret.</summary>
    public string? FallbackError { get; init; }
}
