namespace EmbeddingKit.Postgres.Rollout;

/// <summary>A model switch was refused: the new model has not embedded enough of the entity type yet.</summary>
public sealed class CoverageTooLowException : EmbeddingKitException
{
    /// <summary>Creates the exception.</summary>
    public CoverageTooLowException(ModelCoverage coverage, double required)
        : base($"Model '{coverage?.Model}' covers {coverage?.Stored:N0} of {coverage?.Total:N0} {coverage?.EntityType} entities ({coverage?.Ratio:P1}); {required:P0} is required to activate it. Backfill first, or force the switch.")
    {
        ArgumentNullException.ThrowIfNull(coverage);
        Coverage = coverage;
        Required = required;
    }

    /// <summary>Gets the coverage found.</summary>
    public ModelCoverage Coverage { get; }

    /// <summary>Gets the coverage required.</summary>
    public double Required { get; }
}
