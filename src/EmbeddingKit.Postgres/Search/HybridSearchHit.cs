namespace EmbeddingKit.Postgres.Search;

/// <summary>One fused result, with the rank each list gave it (1 is first; null when the list did not find it).</summary>
/// <param name="EntityType">The entity type.</param>
/// <param name="EntityId">The entity id.</param>
/// <param name="Score">The fused score: the sum over the lists that found it of <c>weight</c> times the list's relative score
/// (<see cref="HybridFusion.RelativeScore"/>) or of <c>weight / (k + rank)</c> (<see cref="HybridFusion.ReciprocalRank"/>).</param>
/// <param name="VectorRank">The rank in the first vector list (the active model).</param>
/// <param name="FallbackRank">The rank in the second vector list (the fallback model).</param>
/// <param name="LexicalRank">The rank in the lexical list.</param>
public sealed record HybridSearchHit(string EntityType, string EntityId, double Score, int? VectorRank, int? FallbackRank, int? LexicalRank)
{
    /// <summary>Gets the number of the entity's best chunk in the first vector list that found it (0 for an entity that
    /// is not chunked, or one only the lexical list found).</summary>
    public int Chunk { get; init; }

    /// <summary>Gets the offset of that chunk's span in the document (the snippet), or null (not chunked, or found by
    /// the lexical list alone).</summary>
    public int? ChunkStart { get; init; }

    /// <summary>Gets the length of that chunk's span, or null.</summary>
    public int? ChunkLength { get; init; }

    /// <summary>Gets the entity's document text, read in the search's own round trip when
    /// <see cref="HybridSearchOptions.Texts"/> is set; null otherwise (or when the documents table has no row).</summary>
    public string? Text { get; init; }
}
