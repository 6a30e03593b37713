namespace EmbeddingKit.Resilience;

/// <summary>
/// Settings of the retry middleware (<c>UseRetry</c>). A call is retried when it fails transiently: an
/// <see cref="EmbeddingKitException"/> whose <see cref="EmbeddingKitException.IsTransient"/> is true, or, from another
/// generator, HTTP 408, 429 or 5xx, or a network error. A provider-requested wait (<see cref="EmbeddingRateLimitedException.RetryAfter"/>,
/// <see cref="EmbeddingTransientException.RetryAfter"/>, <c>Retry-After</c> of the OpenAI SDK's errors) is honoured.
/// Validated when the middleware is added.
/// </summary>
public sealed class EmbeddingRetryOptions
{
    /// <summary>Gets or sets the attempts per call, the first included. Default 6; 1 disables retries.</summary>
    public int MaxAttempts { get; set; } = EmbeddingResilienceDefaults.MaxAttempts;

    /// <summary>Gets or sets the first backoff delay, doubled per retry (with jitter when <see cref="UseJitter"/>).
    /// Default 500 ms.</summary>
    public TimeSpan BaseDelay { get; set; } = EmbeddingResilienceDefaults.BaseDelay;

    /// <summary>Gets or sets the largest backoff delay. Default 30 seconds.</summary>
    public TimeSpan MaxDelay { get; set; } = EmbeddingResilienceDefaults.MaxDelay;

    /// <summary>Gets or sets the longest provider-requested wait that is slept before retrying. A longer wait is not
    /// retried here: the exception goes to the caller with the provider's wait (the queue defers the tasks, or pauses
    /// the model, until then). Default 60 seconds.</summary>
    public TimeSpan MaxRetryAfter { get; set; } = EmbeddingResilienceDefaults.MaxRetryAfter;

    /// <summary>Gets or sets whether backoff delays are jittered (decorrelated, as Polly does). Default true.</summary>
    public bool UseJitter { get; set; } = true;

    /// <summary>Gets or sets a predicate replacing the default transient classification, or null (default) for it.</summary>
    public Func<Exception, bool>? ShouldRetry { get; set; }

    /// <summary>Gets or sets a callback run before each wait, with the failure, the number of the attempt about to be made
    /// (2 for the first retry) and the delay; null (default) for none. The middleware also logs each retry (event 1101)
    /// when the service provider has an <see cref="Microsoft.Extensions.Logging.ILoggerFactory"/>.</summary>
    public Action<Exception, int, TimeSpan>? OnRetry { get; set; }

    internal EmbeddingRetryOptions Validated()
    {
        if (MaxAttempts is < 1 or > 100)
        {
            Fail("MaxAttempts must be between 1 and 100.");
        }

        if (BaseDelay < TimeSpan.Zero || MaxRetryAfter < TimeSpan.Zero)
        {
            Fail("BaseDelay and MaxRetryAfter must not be negative.");
        }

        if (MaxDelay <= TimeSpan.Zero)
        {
            Fail("MaxDelay must be positive.");
        }

        return new EmbeddingRetryOptions
        {
            MaxAttempts = MaxAttempts,
            BaseDelay = BaseDelay,
            MaxDelay = MaxDelay,
            MaxRetryAfter = MaxRetryAfter,
            UseJitter = UseJitter,
            ShouldRetry = ShouldRetry,
            OnRetry = OnRetry,
        };
    }

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    private static void Fail(string message) => throw new EmbeddingConfigurationException("Invalid retry options: " + message);
}
