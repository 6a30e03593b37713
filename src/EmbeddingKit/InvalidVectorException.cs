namespace EmbeddingKit;

/// <summary>A vector cannot be normalized or stored: it is empty, all zeros, holds NaN or infinity, or does not fit fp16.</summary>
public sealed class InvalidVectorException : EmbeddingKitException
{
    /// <summary>Creates the exception.</summary>
    public InvalidVectorException(string message)
        : base(message)
    {
    }
}
