using System.Globalization;

namespace EmbeddingKit.Postgres.Storage;

/// <summary>
/// A model has more dimensions than the pgvector storage can index (<see cref="EmbeddingTable.MaxDimensions"/>: HNSW on
/// <c>halfvec</c> stops at 4,000). Thrown when the model is registered with the storage (host start), so no task of it is
/// ever tried: not transient, nothing is written.
/// </summary>
public sealed class UnsupportedDimensionsException : EmbeddingKitException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="model">The model.</param>
    /// <param name="dimensions">Its dimensions.</param>
    public UnsupportedDimensionsException(string model, int dimensions)
        : base(string.Create(
            CultureInfo.InvariantCulture,
            $"Model '{model}' has {dimensions:N0} dimensions; the pgvector storage indexes at most {EmbeddingTable.MaxDimensions:N0} (HNSW on halfvec). Register it with {EmbeddingTable.MaxDimensions:N0} dimensions or fewer (most providers shorten vectors with a dimensions option), or use another IEmbeddingStorage."))
    {
        Model = model;
        Dimensions = dimensions;
    }

    /// <summary>Gets the model.</summary>
    public string Model { get; }

    /// <summary>Gets its dimensions.</summary>
    public int Dimensions { get; }
}
