namespace EmbeddingKit.Postgres.Search;

/// <summary>Options of <see cref="EmbeddingSearchService"/>, bound by <c>UsePostgres</c> from the configuration section
/// <c>EmbeddingKit:Search</c>. Defaults are in <see cref="EmbeddingSearchDefaults"/>.</summary>
public sealed class EmbeddingSearchOptions
{
    /// <summary>The configuration section the options are bound from.</summary>
    public const string SectionName = "EmbeddingKit:Search";

    /// <summary>Gets or sets the most entities lacking an active vector that a search lists before each query; the
    /// previous model then searches only them (beyond, its hits are checked against the active model's vectors instead).
    /// 1 to 100,000. Default 1,000.</summary>
    public int UncoveredLimit { get; set; } = EmbeddingSearchDefaults.UncoveredLimit;

    /// <summary>Gets or sets how vector searches rank an entity stored in several chunks. Default
    /// <see cref="ChunkGrouping.BestChunk"/>. Fused (hybrid) lists always rank by the best chunk.</summary>
    public ChunkGrouping Grouping { get; set; } = ChunkGrouping.BestChunk;

    /// <summary>Gets or sets whether the storage keeps the lexical index (a <c>tsvector</c> of each entity's text, written
    /// with its vector) that hybrid and lexical search and the fallback for entities not embedded yet use. Default true;
    /// false skips its writes (see the <c>pipeline</c> bench for what they cost) and makes hybrid and lexical search
    /// unavailable.</summary>
    public bool LexicalIndex { get; set; } = true;

    /// <summary>Gets or sets how many lexical matches a hybrid or lexical search reads at most (tier by tier: matches of
    /// every query term first, then of all but one, all but two, any; see <see cref="HybridSearchOptions.LexicalRankLimit"/>),
    /// or null to rank every match by score alone. At least 1. Default <see cref="HybridSearchDefaults.LexicalRankLimit"/>.</summary>
    public int? LexicalRankLimit { get; set; } = HybridSearchDefaults.LexicalRankLimit;

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> when an option is out of range.</summary>
    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(UncoveredLimit, 1, nameof(UncoveredLimit));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(UncoveredLimit, 100_000, nameof(UncoveredLimit));
        if (LexicalRankLimit is { } limit)
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1, nameof(LexicalRankLimit));
        }
    }
}
