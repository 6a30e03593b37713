namespace EmbeddingKit;

/// <summary>
/// The provider asked the caller to slow down (HTTP 429). <see cref="RetryAfter"/> holds the wait it asked for.
/// A task failing with this exception is deferred without using up an attempt.
/// </summary>
public sealed class EmbeddingRateLimitedException : EmbeddingProviderException
{
    /// <summary>Creates the exception.</summary>
    public EmbeddingRateLimitedException(string message, TimeSpan? retryAfter, Exception? innerException = null)
        : base(message, innerException)
    {
        RetryAfter = retryAfter;
    }

    /// <summary>Gets the wait the provider asked for, if it said, passed through (not capped by the client): the queue defers
    /// up to its own cap and pauses the model for longer waits.</summary>
    public TimeSpan? RetryAfter { get; }

    /// <inheritdoc />
    public override bool IsTransient => true;
}
