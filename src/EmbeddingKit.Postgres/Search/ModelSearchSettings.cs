namespace EmbeddingKit.Postgres.Search;

/// <summary>The saved search settings of a model (from the tuner, or set by hand).</summary>
/// <param name="Model">The model.</param>
/// <param name="Path">Two-stage or plain HNSW.</param>
/// <param name="Oversample">The first-stage oversample factor.</param>
/// <param name="EfSearch">The <c>hnsw.ef_search</c> floor.</param>
/// <param name="Recall">The recall@k measured when tuned, if any.</param>
public sealed record ModelSearchSettings(string Model, SearchPath Path, int Oversample, int EfSearch, double? Recall);
