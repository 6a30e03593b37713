namespace EmbeddingKit.Postgres.Search;

/// <summary>A query and the entities that answer it, for tuning and evaluating search (<see cref="HybridTuner"/>).</summary>
/// <param name="Query">The query text.</param>
/// <param name="Relevant">The ids of the entities that answer it (at least one).</param>
public sealed record LabelledQuery(string Query, IReadOnlyList<string> Relevant);
