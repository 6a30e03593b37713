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

    /// <summary>Gets the <c>k</c> values of <c>weight / (k + rank)</c> tried. Default 10, 30, 60, 100.</summary>
    public IReadOnlyList<int> RrfKs { get; init; } = [10, 30, 60, 100];

    /// <summary>Gets the lexical list's weights tried, the vector list's weight being 1. Default 0.25, 0.5, 1, 2, 4.</summary>
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
        if (RrfKs.Count == 0 || LexicalWeights.Count == 0 || !Depths.Any(d => d >= K))
        {
            throw new ArgumentException("The grid needs at least one RRF k, one lexical weight and one depth of at least K.");
        }

        foreach (var setting in Grid())
        {
            setting.Validate();
        }
    }

    /// <summary>The fusion settings of the grid.</summary>
    internal IEnumerable<HybridSettings> Grid() =>
        from depth in Depths.Where(d => d >= K).Distinct()
        from rrfK in RrfKs.Distinct()
        from weight in LexicalWeights.Distinct()
        select new HybridSettings(rrfK, 1.0, weight, depth, depth);
}
