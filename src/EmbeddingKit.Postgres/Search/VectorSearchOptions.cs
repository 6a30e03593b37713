namespace EmbeddingKit.Postgres.Search;

/// <summary>One vector search: how many results, which path, its settings and filters.</summary>
public sealed class VectorSearchOptions
{
    /// <summary>Gets the number of results, 1 to <see cref="VectorSearchDefaults.MaxK"/>. Default
    /// <see cref="VectorSearchDefaults.K"/>.</summary>
    public int K { get; init; } = VectorSearchDefaults.K;

    /// <summary>Gets the path. Default <see cref="SearchPath.TwoStage"/>.</summary>
    public SearchPath Path { get; init; } = SearchPath.TwoStage;

    /// <summary>Gets the first-stage candidates per result of two-stage search, 1 to
    /// <see cref="VectorSearchDefaults.MaxOversample"/>. Default <see cref="VectorSearchDefaults.Oversample"/>.</summary>
    public int Oversample { get; init; } = VectorSearchDefaults.Oversample;

    /// <summary>Gets the configured <c>hnsw.ef_search</c> (the HNSW candidate list), 1 to
    /// <see cref="VectorSearchDefaults.MaxEfSearch"/>. The search sets <c>greatest(rows needed, EfSearch)</c> for its
    /// transaction: pgvector never returns more rows than <c>ef_search</c>. Default <see cref="VectorSearchDefaults.EfSearch"/>.</summary>
    public int EfSearch { get; init; } = VectorSearchDefaults.EfSearch;

    /// <summary>Gets the entity type to search, or null for every entity type stored for the model.</summary>
    public string? EntityType { get; init; }

    /// <summary>Gets an allow-list of entity ids, or null for all. Filtered searches run with pgvector 0.8's iterative
    /// index scans (<c>hnsw.iterative_scan = relaxed_order</c>) so that the filter does not starve the result.</summary>
    public IReadOnlyCollection<string>? EntityIds { get; init; }

    /// <summary>Gets the chunks an HNSW or exact search fetches per result before grouping them by entity, 1 to
    /// <see cref="VectorSearchDefaults.MaxChunkOversample"/>. Default <see cref="VectorSearchDefaults.ChunkOversample"/>.
    /// Raise it when documents have many chunks that match together and fewer than <see cref="K"/> entities come back.</summary>
    public int ChunkOversample { get; init; } = VectorSearchDefaults.ChunkOversample;

    /// <summary>Gets the host's documents table, to return each hit's text in the same round trip
    /// (<see cref="VectorSearchHit.Text"/>), or null (the default) for none.</summary>
    public DocumentTextSource? Texts { get; init; }

    /// <summary>Gets how an entity's chunks make its score. Default <see cref="ChunkGrouping.BestChunk"/>.</summary>
    public ChunkGrouping Grouping { get; init; } = ChunkGrouping.BestChunk;

    /// <summary>Gets the number of rows the index must yield: <c>K × Oversample</c> for two-stage, otherwise
    /// <c>K × ChunkOversample</c> (chunks, grouped by entity into at most <c>K</c> results).</summary>
    public int IndexRows => Path == SearchPath.TwoStage ? K * Oversample : K * ChunkOversample;

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> when a setting is out of range.</summary>
    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(K, 1, nameof(K));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(K, VectorSearchDefaults.MaxK, nameof(K));
        ArgumentOutOfRangeException.ThrowIfLessThan(Oversample, 1, nameof(Oversample));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(Oversample, VectorSearchDefaults.MaxOversample, nameof(Oversample));
        ArgumentOutOfRangeException.ThrowIfLessThan(ChunkOversample, 1, nameof(ChunkOversample));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(ChunkOversample, VectorSearchDefaults.MaxChunkOversample, nameof(ChunkOversample));
        if (!Enum.IsDefined(Grouping))
        {
            throw new ArgumentOutOfRangeException(nameof(Grouping), Grouping, "Not a chunk grouping.");
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(EfSearch, 1, nameof(EfSearch));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(EfSearch, VectorSearchDefaults.MaxEfSearch, nameof(EfSearch));
        if (Path is not (SearchPath.TwoStage or SearchPath.Hnsw or SearchPath.Exact))
        {
            throw new ArgumentOutOfRangeException(nameof(Path), Path, "Not a vector search path (hybrid and lexical search go through PgvectorSearch.HybridSearchAsync).");
        }

        if (IndexRows > VectorSearchDefaults.MaxCandidates)
        {
            throw new ArgumentOutOfRangeException(nameof(Oversample), IndexRows, $"K × Oversample (two-stage) or K × ChunkOversample must be at most {VectorSearchDefaults.MaxCandidates}.");
        }
    }
}
