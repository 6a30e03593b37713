namespace EmbeddingKit.Postgres.Search;

/// <summary>The defaults and limits of <see cref="HybridSearchOptions"/> and <see cref="HybridSettings"/>.</summary>
public static class HybridSearchDefaults
{
    /// <summary>The <c>k</c> of reciprocal rank fusion (<c>weight / (k + rank)</c>): 60, the constant of the RRF paper
    /// (Cormack et al., 2009), which damps the difference between the first ranks.</summary>
    public const int RrfK = 60;

    /// <summary>The weight of each vector list: 1.</summary>
    public const double VectorWeight = 1.0;

    /// <summary>The weight of the lexical list under reciprocal rank fusion: 1.</summary>
    public const double LexicalWeight = 1.0;

    /// <summary>How the lists are fused: <see cref="HybridFusion.RelativeScore"/>.</summary>
    public const HybridFusion Fusion = HybridFusion.RelativeScore;

    /// <summary>The weight of the lexical list under <see cref="HybridFusion.RelativeScore"/>: 0.5 (the vector list's
    /// being 1; on the quality scenario's held-out queries every weight from 0.3 to 0.8 came within 0.004 MRR@10 of the
    /// best).</summary>
    public const double RelativeScoreLexicalWeight = 0.5;

    /// <summary>The candidates each side contributes to the fusion: 40 (pgvector's default <c>ef_search</c>, so an HNSW
    /// side needs no larger candidate list).</summary>
    public const int Depth = 40;

    /// <summary>The largest depth of a side: 1,000.</summary>
    public const int MaxDepth = 1000;

    /// <summary>The lexical matches read at most: 1,000 (<see cref="HybridSearchOptions.LexicalRankLimit"/>; the tiers
    /// stop earlier, once the depth is filled). Measured in docs/search.md.</summary>
    public const int LexicalRankLimit = 1000;

    /// <summary>The most characters of a query the lexical side parses: 10,000 (longer queries are cut, not refused).</summary>
    public const int MaxQueryChars = 10_000;
}
