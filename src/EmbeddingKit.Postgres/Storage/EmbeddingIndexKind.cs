namespace EmbeddingKit.Postgres.Storage;

/// <summary>The kinds of index EmbeddingKit builds on an embedding table.</summary>
public enum EmbeddingIndexKind
{
    /// <summary>Any other index of the table, such as its primary key.</summary>
    Other = 0,

    /// <summary>A per-model HNSW partial index on the <c>halfvec</c> column.</summary>
    Hnsw = 1,

    /// <summary>A per-model HNSW partial index on <c>binary_quantize(embedding)::bit(K)</c> with <c>bit_hamming_ops</c>, the
    /// first stage of two-stage search.</summary>
    BinaryQuantized = 2,
}
