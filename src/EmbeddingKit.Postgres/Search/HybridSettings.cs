namespace EmbeddingKit.Postgres.Search;

/// <summary>The fusion settings of an entity type (saved by <c>tune --queries</c> through
/// <see cref="LexicalIndex.SaveHybridSettingsAsync"/>, used by hybrid search).</summary>
/// <param name="RrfK">The <c>k</c> of <c>weight / (k + rank)</c> under <see cref="HybridFusion.ReciprocalRank"/>.</param>
/// <param name="VectorWeight">The weight of the vector list(s).</param>
/// <param name="LexicalWeight">The weight of the lexical list.</param>
/// <param name="VectorDepth">The candidates of each vector list.</param>
/// <param name="LexicalDepth">The candidates of the lexical list.</param>
public sealed record HybridSettings(int RrfK, double VectorWeight, double LexicalWeight, int VectorDepth, int LexicalDepth)
{
    /// <summary>The defaults (<see cref="HybridSearchDefaults"/>): relative score fusion, the lexical list weighing
    /// half the vector list, 40 candidates a list.</summary>
    public static HybridSettings Default { get; } = new(
        HybridSearchDefaults.RrfK, HybridSearchDefaults.VectorWeight, HybridSearchDefaults.RelativeScoreLexicalWeight, HybridSearchDefaults.Depth, HybridSearchDefaults.Depth)
    {
        Fusion = HybridSearchDefaults.Fusion,
    };

    /// <summary>The defaults of reciprocal rank fusion: k 60, both lists weighing 1, 40 candidates a list.</summary>
    public static HybridSettings ReciprocalRankDefault { get; } = new(
        HybridSearchDefaults.RrfK, HybridSearchDefaults.VectorWeight, HybridSearchDefaults.LexicalWeight, HybridSearchDefaults.Depth, HybridSearchDefaults.Depth)
    {
        Fusion = HybridFusion.ReciprocalRank,
    };

    /// <summary>Gets how the lists are fused. Default <see cref="HybridFusion.RelativeScore"/>.</summary>
    public HybridFusion Fusion { get; init; } = HybridSearchDefaults.Fusion;

    /// <summary>Gets the MRR@10 the setting reached when it was tuned, or null.</summary>
    public double? Mrr { get; init; }

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> when a setting is out of range.</summary>
    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(RrfK, 0, nameof(RrfK));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(RrfK, 10_000, nameof(RrfK));
        if (!double.IsFinite(VectorWeight) || VectorWeight < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(VectorWeight), VectorWeight, "A weight must be finite and not negative.");
        }

        if (!double.IsFinite(LexicalWeight) || LexicalWeight < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(LexicalWeight), LexicalWeight, "A weight must be finite and not negative.");
        }

        if (!Enum.IsDefined(Fusion))
        {
            throw new ArgumentOutOfRangeException(nameof(Fusion), Fusion, "Unknown fusion.");
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(VectorDepth, 1, nameof(VectorDepth));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(VectorDepth, HybridSearchDefaults.MaxDepth, nameof(VectorDepth));
        ArgumentOutOfRangeException.ThrowIfLessThan(LexicalDepth, 1, nameof(LexicalDepth));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(LexicalDepth, HybridSearchDefaults.MaxDepth, nameof(LexicalDepth));
    }
}
