namespace EmbeddingKit.OpenAI;

/// <summary>The default values of <see cref="OpenAICompatibleEmbeddingOptions"/>, in one place.</summary>
public static class OpenAICompatibleEmbeddingDefaults
{
    /// <summary>Inputs per request: 96.</summary>
    public const int MaxInputsPerRequest = 96;

    /// <summary>Requests in flight per generator: 4.</summary>
    public const int MaxConcurrentRequests = 4;

    /// <summary>Attempts per request, the first included: 6.</summary>
    public const int MaxAttempts = 6;

    /// <summary>Largest accepted response body: 256 MiB.</summary>
    public const long MaxResponseBytes = 256L * 1024 * 1024;

    /// <summary>Largest accepted image or video frame for multimodal embedding: 20 MiB.</summary>
    public const long MaxImageBytes = 20L * 1024 * 1024;

    /// <summary>The provider name used in exceptions and logs when none is set: <c>openai-compatible</c>.</summary>
    public const string ProviderName = "openai-compatible";

    /// <summary>The User-Agent header: <c>EmbeddingKit/0.1</c>.</summary>
    public const string UserAgent = "EmbeddingKit/0.1";

    /// <summary>The request field carrying the wanted dimensions: <c>dimensions</c>.</summary>
    public const string DimensionsFieldName = "dimensions";

    /// <summary>Timeout of one HTTP attempt, headers and body: 60 seconds.</summary>
    public static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(60);

    /// <summary>Timeout of one request with all its retries: 5 minutes.</summary>
    public static readonly TimeSpan TotalTimeout = TimeSpan.FromMinutes(5);

    /// <summary>First backoff delay (doubled per retry, jittered): 500 ms.</summary>
    public static readonly TimeSpan BaseDelay = TimeSpan.FromMilliseconds(500);

    /// <summary>Largest backoff delay: 30 seconds.</summary>
    public static readonly TimeSpan MaxDelay = TimeSpan.FromSeconds(30);

    /// <summary>Longest provider-asked wait (<c>Retry-After</c> and similar) the client sleeps before retrying itself: 60 seconds.</summary>
    public static readonly TimeSpan MaxRetryAfter = TimeSpan.FromSeconds(60);
}
