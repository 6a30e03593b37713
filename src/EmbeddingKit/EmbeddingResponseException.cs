namespace EmbeddingKit;

/// <summary>
/// The provider answered with success but the answer is unusable: wrong count, missing or repeated index, wrong
/// dimensions, NaN or infinite values, a zero vector, or a body that is not the expected JSON.
/// </summary>
public sealed class EmbeddingResponseException : EmbeddingProviderException
{
    /// <summary>Creates the exception.</summary>
    public EmbeddingResponseException(string message, Exception? innerException = null)
        : base(message, innerException)
    {
    }

    /// <summary>Gets whether a retry may succeed. Malformed or truncated bodies are transient; a provider that always
    /// returns the wrong dimensions is not.</summary>
    public bool Retryable { get; init; } = true;

    /// <inheritdoc />
    public override bool IsTransient => Retryable;
}
