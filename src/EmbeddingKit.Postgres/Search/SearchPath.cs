namespace EmbeddingKit.Postgres.Search;

/// <summary>How a vector search is answered.</summary>
public enum SearchPath
{
    /// <summary>Two stages: Hamming distance on the binary-quantized index picks <c>k × oversample</c> candidates, which
    /// are rescored by the fp16 distance to <c>k</c>. The smallest index (a bit per dimension).</summary>
    TwoStage = 0,

    /// <summary>The HNSW index on the <c>halfvec</c> column, ordered by the fp16 distance.</summary>
    Hnsw = 1,

    /// <summary>No index: every row of the model is scored. The ground truth, and slow on large tables.</summary>
    Exact = 2,

    /// <summary>Hybrid: the vector candidates (on the model's saved vector path) and the full-text candidates of the
    /// lexical index (<c>websearch_to_tsquery</c>, ranked by <c>ts_rank</c>, length-normalized) fused in one statement
    /// (<see cref="HybridSettings.Fusion"/>). Not a vector path: <see cref="VectorSearchOptions"/> refuses it.</summary>
    Hybrid = 3,

    /// <summary>The full-text candidates of the lexical index alone (no query embedding). Not a vector path.</summary>
    Lexical = 4,
}
