namespace EmbeddingKit.Postgres.Search;

/// <summary>The defaults and limits of <see cref="VectorSearchOptions"/>.</summary>
public static class VectorSearchDefaults
{
    /// <summary>Results per query: 10.</summary>
    public const int K = 10;

    /// <summary>The largest <see cref="VectorSearchOptions.K"/>: 1,000.</summary>
    public const int MaxK = 1000;

    /// <summary>Candidates per result in the first stage of two-stage search: 16. Recall depends on the data, so run
    /// <see cref="SearchTuner"/> on the live table for a data-driven value: on synthetic clustered 768-d sets, recall@10
    /// reached 0.99 at 8 on 8,000 rows but needed 64 for 0.97 on 100,000 denser rows (docs/benchmarks.md).</summary>
    public const int Oversample = 16;

    /// <summary>The fewest dimensions at which the default path of a model without saved settings is two-stage: 1,024.
    /// Binary quantization keeps one bit per dimension; below this, <see cref="PathFor"/> picks plain HNSW. On the demo's
    /// 1,322 Debian package descriptions with the hashing model, two-stage at oversample 16 reached recall@10 0.63 of
    /// exact search at 384 dimensions (0.83 even at 64) where HNSW at ef_search 40 reached 1.0 (docs/search.md).</summary>
    public const int MinTwoStageDimensions = 1024;

    /// <summary>The default path of a model with <paramref name="dimensions"/> and no saved search settings:
    /// <see cref="SearchPath.TwoStage"/> from <see cref="MinTwoStageDimensions"/> on, otherwise
    /// <see cref="SearchPath.Hnsw"/>. <c>models activate</c> in the CLI tunes and saves a model's settings; a host calls
    /// <see cref="SearchTuner"/>.</summary>
    public static SearchPath PathFor(int dimensions) => dimensions >= MinTwoStageDimensions ? SearchPath.TwoStage : SearchPath.Hnsw;

    /// <summary>The largest <see cref="VectorSearchOptions.Oversample"/>: 100.</summary>
    public const int MaxOversample = 100;

    /// <summary>The configured <c>hnsw.ef_search</c>: 40, pgvector's default. Each search raises it to at least the
    /// number of rows it needs from the index.</summary>
    public const int EfSearch = 40;

    /// <summary>The chunks an HNSW or exact search fetches per result before grouping them by entity: 4 (so k = 10 reads
    /// 40 rows, the default <c>ef_search</c>: an unchunked table costs the same as before). Two-stage search groups its
    /// first-stage candidates (<see cref="Oversample"/> per result) instead.</summary>
    public const int ChunkOversample = 4;

    /// <summary>The most chunks per result: 50.</summary>
    public const int MaxChunkOversample = 50;

    /// <summary>The largest <c>hnsw.ef_search</c> pgvector accepts: 1,000. Beyond it, searches that need more rows
    /// from the index turn on iterative scans.</summary>
    public const int MaxEfSearch = 1000;

    /// <summary>The most first-stage candidates (<c>k × oversample</c>) a two-stage search may ask for: 10,000 (pgvector's
    /// <c>hnsw.max_scan_tuples</c> is 20,000 by default).</summary>
    public const int MaxCandidates = 10_000;

    /// <summary>The most filtered rows a search scores exactly instead of asking the index: 10,000. A filter (entity type
    /// or ids) is answered exactly when it keeps so few of the table's rows that an iterative index scan would stop at
    /// <c>hnsw.max_scan_tuples</c> before finding them, and they are at most this many; a filtered index search that
    /// comes back with fewer than <c>K</c> rows is run again exactly. <see cref="VectorSearchResult.Path"/> says which
    /// path answered.</summary>
    public const int MaxExactFilterRows = 10_000;
}
