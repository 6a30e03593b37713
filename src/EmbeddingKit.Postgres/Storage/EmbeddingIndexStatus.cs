namespace EmbeddingKit.Postgres.Storage;

/// <summary>The state of one index of an embedding table.</summary>
/// <param name="Name">The index name.</param>
/// <param name="Kind">What the index serves.</param>
/// <param name="Model">The model of a per-model index when the caller asked about one model; otherwise null.</param>
/// <param name="Exists">Whether the index exists.</param>
/// <param name="IsValid">Whether the index is valid (<c>pg_index.indisvalid</c>); false after a failed <c>CREATE INDEX
/// CONCURRENTLY</c>, in which case PostgreSQL keeps updating it but never uses it.</param>
/// <param name="SizeBytes">The index size on disk (<c>pg_relation_size</c>), 0 when it does not exist.</param>
public sealed record EmbeddingIndexStatus(string Name, EmbeddingIndexKind Kind, string? Model, bool Exists, bool IsValid, long SizeBytes);
