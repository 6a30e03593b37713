namespace EmbeddingKit.Postgres.Search;

/// <summary>What <see cref="HybridTuner"/> measures: the entity type, the k of MRR@k and recall@k, the latency budget
/// and the grid of fusion settings.</summary>
public sealed class HybridTunerOptions
{
    /// <summary>Gets the entity type searched (required).</summary>
    public required string EntityType { get; init; }

    /// <summary>Gets the k of MRR@k and recall@k, and of each search. Default 10.</summary>
    public int K { get; init; } = VectorSearchDefaults.K;

    /// <summary>Gets the most a recommended setting's p50 latency may be; when null, 1.5 times the p50 of vector search
    /// alone on the model's saved path, measured in the same run.</summary>
    public TimeSpan? LatencyBudget { get; init; }

    /// <summary>Gets the fusions tried. Default both: <see cref="HybridFusion.RelativeScore"/> and
    /// <see cref="HybridFusion.ReciprocalRank"/>.</summary>
    public IReadOnlyList<HybridFusion> Fusions { get; init; } = [HybridFusion.RelativeScore, HybridFusion.ReciprocalRank];

    /// <summary>Gets the lexical list's weights tried with <see cref="HybridFusion.RelativeScore"/>, the vector list's
    /// weight being 1. Default 0.15, 0.3, 0.5, 0.8, 1.2.</summary>
    public IReadOnlyList<double> RelativeScoreLexicalWeights { get; init; } = [0.15, 0.3, 0.5, 0.8, 1.2];

    /// <summary>Gets the <c>k</c> values of <c>weight / (k + rank)</c> tried with <see cref="HybridFusion.ReciprocalRank"/>.
    /// Default 10, 30, 60, 100.</summary>
    public IReadOnlyList<int> RrfKs { get; init; } = [10, 30, 60, 100];

    /// <summary>Gets the lexical list's weights tried with <see cref="HybridFusion.ReciprocalRank"/>, the vector list's
    /// weight being 1. Default 0.25, 0.5, 1, 2, 4.</summary>
    public IReadOnlyList<double> LexicalWeights { get; init; } = [0.25, 0.5, 1, 2, 4];

    /// <summary>Gets the candidate depths tried (the same for both lists; those below <see cref="K"/> are skipped).
    /// Default 20, 40, 100, 200.</summary>
    public IReadOnlyList<int> Depths { get; init; } = [20, 40, 100, 200];

    /// <summary>Throws <see cref="ArgumentException"/> when an option is out of range.</summary>
    public void Validate()
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(EntityType, nameof(EntityType));
        ArgumentOutOfRangeException.ThrowIfLessThan(K, 1, nameof(K));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(K, VectorSearchDefaults.MaxK, nameof(K));
        if (LatencyBudget is { } budget && budget <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(LatencyBudget), budget, "The latency budget must be positive.");
        }

        ArgumentNullException.ThrowIfNull(RrfKs, nameof(RrfKs));
        ArgumentNullException.ThrowIfNull(LexicalWeights, nameof(LexicalWeights));
        ArgumentNullException.ThrowIfNull(Depths, nameof(Depths));
        ArgumentNullException.ThrowIfNull(Fusions, nameof(Fusions));
        ArgumentNullException.ThrowIfNull(RelativeScoreLexicalWeights, nameof(RelativeScoreLexicalWeights));
        if (Fusions.Count == 0 || !Depths.Any(d => d >= K))
        {
            throw new ArgumentException("The grid needs at least one fusion and one depth of at least K.");
        }

        if (Fusions.Contains(HybridFusion.ReciprocalRank) && (RrfKs.Count == 0 || LexicalWeights.Count == 0))
        {
            throw new ArgumentException("Reciprocal rank fusion needs at least one RRF k and one lexical weight.");
        }

        if (Fusions.Contains(HybridFusion.RelativeScore) && RelativeScoreLexicalWeights.Count == 0)
        {
            throw new ArgumentException("Relative score fusion needs at least one lexical weight.");
        }

        foreach (var setting in Grid())
        {
            setting.Validate();
        }
    }

    /// <summary>The fusion settings of the grid.</summary>
    internal IEnumerable<HybridSettings> Grid() =>
        from depth in Depths.Where(d => d >= K).Distinct()
        from fusion in Fusions.Distinct()
        from setting in fusion == HybridFusion.ReciprocalRank
            ? from rrfK in RrfKs.Distinct() from weight in LexicalWeights.Distinct() select new HybridSettings(rrfK, 1.0, weight, depth, depth) { Fusion = fusion }
            : RelativeScoreLexicalWeights.Distinct().Select(weight => new HybridSettings(HybridSearchDefaults.RrfK, 1.0, weight, depth, depth) { Fusion = fusion })
        select setting;
}
