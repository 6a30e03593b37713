namespace EmbeddingKit.Resilience;

/// <summary>The default values of the resilience middleware options, in one place. They match the defaults of
/// EmbeddingKit's OpenAI-compatible client, which composes itself from the same middleware.</summary>
public static class EmbeddingResilienceDefaults
{
    /// <summary>Attempts per call, the first included: 6.</summary>
    public const int MaxAttempts = 6;

    /// <summary>Largest concurrent calls through one concurrency limit: 4.</summary>
    public const int MaxConcurrentCalls = 4;

    /// <summary>Tokens per minute of a token budget: 1,000,000 (OpenAI's first usage tier for its embedding models).</summary>
    public const int TokensPerMinute = 1_000_000;

    /// <summary>First backoff delay, doubled per retry with jitter: 500 ms.</summary>
    public static readonly TimeSpan BaseDelay = TimeSpan.FromMilliseconds(500);

    /// <summary>Largest backoff delay: 30 seconds.</summary>
    public static readonly TimeSpan MaxDelay = TimeSpan.FromSeconds(30);

    /// <summary>Longest provider-requested wait (<c>Retry-After</c>) slept before a retry: 60 seconds.</summary>
    public static readonly TimeSpan MaxRetryAfter = TimeSpan.FromSeconds(60);

    /// <summary>Timeout of one attempt: 60 seconds.</summary>
    public static readonly TimeSpan AttemptTimeout = TimeSpan.FromSeconds(60);

    /// <summary>Timeout of one call including every retry and wait: 5 minutes.</summary>
    public static readonly TimeSpan TotalTimeout = TimeSpan.FromMinutes(5);
}
