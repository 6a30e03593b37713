using EmbeddingKit.Postgres.Storage;

namespace EmbeddingKit.Postgres.Search;

/// <summary>One ranked vector list of a fused search: a model's nearest neighbours of its own query vector.</summary>
/// <param name="Table">The table holding the model's vectors.</param>
/// <param name="Model">The model.</param>
/// <param name="Query">The L2-normalized query vector of that model.</param>
public sealed record HybridVectorList(EmbeddingTable Table, string Model, ReadOnlyMemory<Half> Query)
{
    /// <summary>Gets the vector path (<see cref="SearchPath.TwoStage"/>, <see cref="SearchPath.Hnsw"/> or
    /// <see cref="SearchPath.Exact"/>). Default two-stage.</summary>
    public SearchPath Path { get; init; } = SearchPath.TwoStage;

    /// <summary>Gets the first-stage candidates per result of two-stage search. Default <see cref="VectorSearchDefaults.Oversample"/>.</summary>
    public int Oversample { get; init; } = VectorSearchDefaults.Oversample;

    /// <summary>Gets the configured <c>hnsw.ef_search</c>. Default <see cref="VectorSearchDefaults.EfSearch"/>.</summary>
    public int EfSearch { get; init; } = VectorSearchDefaults.EfSearch;

    /// <summary>Gets the model whose vectors this list must not rank (a fallback model during a rollout ranks only the
    /// entities the active model has no vector for), or null. Its vectors must be in the same schema as
    /// <see cref="Table"/>'s table for its dimensions: <see cref="LackingTable"/>.</summary>
    public string? LackingModel { get; init; }

    /// <summary>Gets the table of <see cref="LackingModel"/>.</summary>
    public EmbeddingTable? LackingTable { get; init; }
}
