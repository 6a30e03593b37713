namespace EmbeddingKit.Postgres.Search;

/// <summary>What <see cref="HybridTuner"/> measured and recommends.</summary>
public sealed record HybridTuningResult
{
    /// <summary>Gets the entity type.</summary>
    public required string EntityType { get; init; }

    /// <summary>Gets the model whose vectors were fused.</summary>
    public required string Model { get; init; }

    /// <summary>Gets the k of the measures.</summary>
    public required int K { get; init; }

    /// <summary>Gets how many labelled queries were run.</summary>
    public required int QueryCount { get; init; }

    /// <summary>Gets the latency budget the recommendation had to meet, in milliseconds.</summary>
    public required double LatencyBudgetMilliseconds { get; init; }

    /// <summary>Gets the model's saved vector path alone.</summary>
    public required HybridTuningRow Vector { get; init; }

    /// <summary>Gets the lexical index alone.</summary>
    public required HybridTuningRow Lexical { get; init; }

    /// <summary>Gets each fusion setting of the grid.</summary>
    public required IReadOnlyList<HybridTuningRow> Rows { get; init; }

    /// <summary>Gets the recommended fusion setting (with <see cref="HybridSettings.Mrr"/> set): the highest MRR@k
    /// within the budget, the faster on a tie; the fastest when none is within it.</summary>
    public required HybridSettings Recommendation { get; init; }

    /// <summary>Gets whether the recommendation is within the latency budget.</summary>
    public required bool WithinBudget { get; init; }

    /// <summary>Gets why it was recommended, in words.</summary>
    public required string Reason { get; init; }
}
