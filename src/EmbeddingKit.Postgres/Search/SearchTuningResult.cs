namespace EmbeddingKit.Postgres.Search;

/// <summary>What <see cref="SearchTuner"/> measured and what it recommends; plain data, ready to print or serialize.</summary>
/// <param name="Model">The model tuned.</param>
/// <param name="K">The k of recall@k.</param>
/// <param name="TargetRecall">The recall the recommendation aims at.</param>
/// <param name="SampleSize">The number of queries actually used (fewer than asked when the table holds fewer vectors).</param>
/// <param name="ExactP50Milliseconds">The median latency of exact search, the ground truth.</param>
/// <param name="Rows">Every measured setting, two-stage first, then HNSW.</param>
/// <param name="Recommendation">The recommended setting.</param>
public sealed record SearchTuningResult(
    string Model, int K, double TargetRecall, int SampleSize, double ExactP50Milliseconds,
    IReadOnlyList<SearchTuningRow> Rows, SearchRecommendation Recommendation);
