namespace EmbeddingKit.Reliability.Tests.Infrastructure;

/// <summary>The invariants read from the database after a chaos run.</summary>
public sealed record ChaosCheck
{
    /// <summary>Documents (entities).</summary>
    public long Documents { get; init; }

    /// <summary>Stored vectors of the model.</summary>
    public long Vectors { get; init; }

    /// <summary>Stored vectors whose content hash is not that of the latest document text.</summary>
    public long StaleVectors { get; init; }

    /// <summary>Documents without a vector.</summary>
    public long MissingVectors { get; init; }

    /// <summary>Documents without an up-to-date vector and without an outstanding or dead task: lost work.</summary>
    public long Lost { get; init; }

    /// <summary>Outstanding tasks.</summary>
    public long Outstanding { get; init; }

    /// <summary>Tasks still holding a lease whose expiry has passed.</summary>
    public long LeasedPastExpiry { get; init; }

    /// <summary>Tasks holding a lease.</summary>
    public long Leased { get; init; }

    /// <summary>Dead tasks.</summary>
    public long Dead { get; init; }
}
