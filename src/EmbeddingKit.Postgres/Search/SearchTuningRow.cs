namespace EmbeddingKit.Postgres.Search;

/// <summary>One measured setting.</summary>
/// <param name="Path">The search path.</param>
/// <param name="Oversample">The oversample factor (two-stage), or 1.</param>
/// <param name="EfSearch">The configured <c>hnsw.ef_search</c> (a search raises it to the rows it needs).</param>
/// <param name="RecallAtK">The mean recall@k against exact search over the sample.</param>
/// <param name="P50Milliseconds">The median latency of one search, round trips included.</param>
/// <param name="P99Milliseconds">The 99th percentile latency.</param>
public sealed record SearchTuningRow(SearchPath Path, int Oversample, int EfSearch, double RecallAtK, double P50Milliseconds, double P99Milliseconds)
{
    /// <summary>Gets a one-sided lower confidence bound of the mean recall@k (at <see cref="SearchTunerOptions.Confidence"/>),
    /// from the spread of the sample's per-query recalls: the recall a new query set should reach at least. The
    /// recommendation compares this, not the sample's mean, with the target. Defaults to <see cref="RecallAtK"/>.</summary>
    public double RecallLowerBound { get; init; } = RecallAtK;
}
