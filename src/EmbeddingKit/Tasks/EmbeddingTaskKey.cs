namespace EmbeddingKit.Tasks;

/// <summary>The natural key of an embedding task and of a stored embedding: which entity, embedded by which model.</summary>
/// <param name="EntityType">The host's entity type, for example <c>article</c>.</param>
/// <param name="EntityId">The host's id of the entity, as text.</param>
/// <param name="Model">The embedding model name as the model registry knows it.</param>
public readonly record struct EmbeddingTaskKey(string EntityType, string EntityId, string Model);
