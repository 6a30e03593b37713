namespace EmbeddingKit.Postgres.Rollout;

/// <summary>How much of an entity type a model has embedded.</summary>
/// <param name="EntityType">The entity type.</param>
/// <param name="Model">The model.</param>
/// <param name="Stored">Entities with a stored vector of the model.</param>
/// <param name="Total">Entities in all, as the host counts them.</param>
public sealed record ModelCoverage(string EntityType, string Model, long Stored, long Total)
{
    /// <summary>Gets stored / total (1 when there are no entities).</summary>
    public double Ratio => Total <= 0 ? 1 : Math.Min(1, Stored / (double)Total);
}
