namespace EmbeddingKit;

/// <summary>
/// A failure that may go away on its own: 408, 5xx, a reset or timed-out connection, a malformed or truncated response.
/// </summary>
public sealed class EmbeddingTransientException : EmbeddingProviderException
{
    /// <summary>Creates the exception.</summary>
    public EmbeddingTransientException(string message, Exception? innerException = null)
        : base(message, innerException)
    {
    }

    /// <summary>Gets the wait the provider asked for (for example a <c>Retry-After</c> on a 503), passed through, when it
    /// said.</summary>
    public TimeSpan? RetryAfter { get; init; }

    /// <inheritdoc />
    public override bool IsTransient => true;
}
