namespace EmbeddingKit.Postgres.Search;

/// <summary>The model search uses for an entity type, and the one before it.</summary>
/// <param name="EntityType">The entity type.</param>
/// <param name="Model">The active model.</param>
/// <param name="PreviousModel">The model active before it: the fallback for entities the active one does not cover yet.</param>
/// <param name="Coverage">Stored / total entities for the model when it was activated.</param>
/// <param name="Forced">Whether the switch was forced below the coverage threshold.</param>
/// <param name="SwitchedAt">When it was activated, by the database clock.</param>
public sealed record ActiveModel(string EntityType, string Model, string? PreviousModel, double? Coverage, bool Forced, DateTimeOffset SwitchedAt);
