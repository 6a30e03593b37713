namespace EmbeddingKit.Postgres.Search;

/// <summary>The measured quality and latency of one way of searching over the labelled queries.</summary>
/// <param name="Name"><c>vector</c> (the model's saved vector path alone), <c>lexical</c> (the lexical index alone) or
/// <c>hybrid</c>.</param>
/// <param name="Settings">The fusion settings of a <c>hybrid</c> row; null otherwise.</param>
/// <param name="MrrAtK">The mean reciprocal rank of the first relevant hit within k (0 when none is found).</param>
/// <param name="RecallAtK">The mean share of a query's relevant entities found within k.</param>
/// <param name="P50Milliseconds">The median latency of one search (one round trip; the query embedding is not timed).</param>
/// <param name="P99Milliseconds">The 99th percentile latency.</param>
public sealed record HybridTuningRow(string Name, HybridSettings? Settings, double MrrAtK, double RecallAtK, double P50Milliseconds, double P99Milliseconds);
