namespace EmbeddingKit.Postgres.Storage;

/// <summary>The operator class of a model's HNSW index on <c>halfvec</c>, and with it the distance that search orders by.</summary>
public enum HalfvecOperatorClass
{
    /// <summary>
    /// <c>halfvec_ip_ops</c>, ordered by <c>&lt;#&gt;</c> (negative inner product). EmbeddingKit stores L2-normalized vectors, for
    /// which the inner product equals the cosine similarity and skips the two norms cosine distance computes: the right
    /// and fastest choice. The default.
    /// </summary>
    InnerProduct = 0,

    /// <summary><c>halfvec_cosine_ops</c>, ordered by <c>&lt;=&gt;</c> (cosine distance). Gives the same order for normalized
    /// vectors, at a little more cost; use it for vectors that are not normalized.</summary>
    Cosine = 1,
}
