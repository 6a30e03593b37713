using System.Text.Json.Nodes;

namespace EmbeddingKit.OpenAI;

/// <summary>
/// Settings of an OpenAI-compatible embedding client. Defaults are listed on each property and gathered in
/// <see cref="OpenAICompatibleEmbeddingDefaults"/>; <see cref="Validate"/> runs when a generator is created.
/// Start from a preset with <see cref="FromPreset"/> to get the provider's batch limit and format right.
/// </summary>
public sealed class OpenAICompatibleEmbeddingOptions
{
    private static readonly HashSet<string> ReservedFields = new(StringComparer.Ordinal) { "model", "input", "encoding_format" };

    /// <summary>Gets or sets the API base URL, up to and including the version segment, for example
    /// <c>https://api.openai.com/v1</c>; <c>/embeddings</c> is appended. Required.</summary>
    public Uri? BaseUrl { get; set; }

    /// <summary>Gets or sets the API key, or <see langword="null"/> for servers without authentication (Ollama, vLLM,
    /// TEI). It is sent in <see cref="ApiKeyHeaderName"/> and never appears in an exception, a log or
    /// <see cref="ToString"/>.</summary>
    public string? ApiKey { get; set; }

    /// <summary>Gets or sets the header carrying the API key. Default <c>Authorization</c>, sent as <c>Bearer {key}</c>;
    /// any other header (Azure's <c>api-key</c>) gets the key as it is.</summary>
    public string ApiKeyHeaderName { get; set; } = "Authorization";

    /// <summary>Gets or sets the model (or Azure deployment) name. Required.</summary>
    public string? Model { get; set; }

    /// <summary>Gets or sets the wanted dimensions, sent as <see cref="DimensionsFieldName"/>; <see langword="null"/>
    /// (default) sends nothing. Every response is checked to have exactly this size, since some providers ignore it.</summary>
    public int? Dimensions { get; set; }

    /// <summary>Gets or sets the request field for <see cref="Dimensions"/>. Default <c>dimensions</c>
    /// (Voyage uses <c>output_dimension</c>).</summary>
    public string DimensionsFieldName { get; set; } = OpenAICompatibleEmbeddingDefaults.DimensionsFieldName;

    /// <summary>Gets or sets the most inputs in one request. Default 96; larger calls are split.</summary>
    public int MaxInputsPerRequest { get; set; } = OpenAICompatibleEmbeddingDefaults.MaxInputsPerRequest;

    /// <summary>Gets or sets the most requests in flight at once for this generator, across all calls. Default 4.</summary>
    public int MaxConcurrentRequests { get; set; } = OpenAICompatibleEmbeddingDefaults.MaxConcurrentRequests;

    /// <summary>Gets or sets the timeout of one HTTP attempt (headers and body). Default 60 seconds.</summary>
    public TimeSpan RequestTimeout { get; set; } = OpenAICompatibleEmbeddingDefaults.RequestTimeout;

    /// <summary>Gets or sets the timeout of one request including every retry and wait. Default 5 minutes.</summary>
    public TimeSpan TotalTimeout { get; set; } = OpenAICompatibleEmbeddingDefaults.TotalTimeout;

    /// <summary>Gets or sets the <c>encoding_format</c> asked for. Default <see cref="EmbeddingEncodingFormat.Base64"/>.
    /// Responses are read in whichever form they come.</summary>
    public EmbeddingEncodingFormat EncodingFormat { get; set; } = EmbeddingEncodingFormat.Base64;

    /// <summary>Gets extra top-level request fields, for example <c>input_type</c> (Voyage), <c>task</c> (Jina) or
    /// <c>text_type</c> (DashScope). Empty by default. <c>model</c>, <c>input</c> and <c>encoding_format</c> cannot be
    /// overridden.</summary>
    public IDictionary<string, JsonNode?> ExtraRequestFields { get; } = new Dictionary<string, JsonNode?>(StringComparer.Ordinal);

    /// <summary>Gets or sets the User-Agent header. Default <c>EmbeddingKit/0.1</c>.</summary>
    public string UserAgent { get; set; } = OpenAICompatibleEmbeddingDefaults.UserAgent;

    /// <summary>Gets or sets the token limit of one input. Default <see langword="null"/>: 8191 for OpenAI's
    /// <c>text-embedding-3-*</c> and <c>text-embedding-ada-002</c> (counted with their cl100k_base tokenizer), no
    /// limit for other models. For other models a set limit is checked with a conservative estimate (UTF-8 bytes / 3).</summary>
    public int? MaxTokensPerInput { get; set; }

    /// <summary>Gets or sets the token budget of one request, summed over its inputs: a batch over it is sent as several
    /// requests. Default <see langword="null"/>: 300,000 for OpenAI's <c>text-embedding-3-*</c> and
    /// <c>text-embedding-ada-002</c> (OpenAI refuses larger requests), no budget for other models. Counted like
    /// <see cref="MaxTokensPerInput"/>; only batches that could be over it are counted.</summary>
    public int? MaxTokensPerRequest { get; set; }

    /// <summary>Gets or sets what happens to an input over <see cref="MaxTokensPerInput"/>. Default
    /// <see cref="OpenAI.OverlongInputPolicy.Truncate"/>.</summary>
    public OverlongInputPolicy OverlongInputPolicy { get; set; } = OverlongInputPolicy.Truncate;

    /// <summary>Gets or sets the attempts per request, the first included. Default 6; 1 disables retries.</summary>
    public int MaxAttempts { get; set; } = OpenAICompatibleEmbeddingDefaults.MaxAttempts;

    /// <summary>Gets or sets the first backoff delay, doubled per retry with jitter. Default 500 ms.</summary>
    public TimeSpan BaseDelay { get; set; } = OpenAICompatibleEmbeddingDefaults.BaseDelay;

    /// <summary>Gets or sets the largest backoff delay. Default 30 seconds.</summary>
    public TimeSpan MaxDelay { get; set; } = OpenAICompatibleEmbeddingDefaults.MaxDelay;

    /// <summary>Gets or sets the longest wait, asked for through <c>Retry-After</c>, <c>retry-after-ms</c> or
    /// <c>x-ratelimit-reset-*</c>, that the client sleeps before retrying itself. A longer wait is not retried here: the
    /// exception carries the provider's wait to the caller (the queue defers the tasks, or pauses the model until then).
    /// Default 60 seconds.</summary>
    public TimeSpan MaxRetryAfter { get; set; } = OpenAICompatibleEmbeddingDefaults.MaxRetryAfter;

    /// <summary>Gets or sets the largest response body accepted. Default 256 MiB.</summary>
    public long MaxResponseBytes { get; set; } = OpenAICompatibleEmbeddingDefaults.MaxResponseBytes;

    /// <summary>Gets or sets the largest image or video frame accepted by the multimodal client. Default 20 MiB.</summary>
    public long MaxImageBytes { get; set; } = OpenAICompatibleEmbeddingDefaults.MaxImageBytes;

    /// <summary>Gets or sets the provider name used in exceptions, logs and metadata. Default <c>openai-compatible</c>.</summary>
    public string ProviderName { get; set; } = OpenAICompatibleEmbeddingDefaults.ProviderName;

    /// <summary>Creates options from a preset: its base URL, batch limit, encoding format, dimensions field, key header
    /// and default extra fields.</summary>
    /// <param name="preset">The provider preset, from <see cref="EmbeddingProviderPresets"/>.</param>
    /// <param name="model">The model.</param>
    /// <param name="apiKey">The API key, if the provider needs one.</param>
    /// <param name="baseUrl">The base URL, required when the preset's URL has placeholders (Azure's resource name).</param>
    /// <returns>New options; adjust them further as needed.</returns>
    public static OpenAICompatibleEmbeddingOptions FromPreset(EmbeddingProviderPreset preset, string model, string? apiKey = null, Uri? baseUrl = null)
    {
        ArgumentNullException.ThrowIfNull(preset);
        ArgumentException.ThrowIfNullOrWhiteSpace(model);
        var options = new OpenAICompatibleEmbeddingOptions
        {
            BaseUrl = baseUrl ?? (preset.BaseUrl.Contains('{', StringComparison.Ordinal) ? null : new Uri(preset.BaseUrl)),
            ApiKey = apiKey,
            ApiKeyHeaderName = preset.ApiKeyHeaderName,
            Model = model,
            DimensionsFieldName = preset.DimensionsFieldName,
            MaxInputsPerRequest = preset.MaxInputsPerRequest,
            EncodingFormat = preset.SupportsBase64 ? EmbeddingEncodingFormat.Base64 : EmbeddingEncodingFormat.Float,
            ProviderName = preset.Name,
        };
        foreach (var (name, value) in preset.DefaultExtraFields)
        {
            options.ExtraRequestFields[name] = JsonValue.Create(value);
        }

        return options;
    }

    /// <summary>Checks every setting and throws on the first that is wrong.</summary>
    /// <exception cref="EmbeddingConfigurationException">A setting is missing or out of range.</exception>
    public void Validate()
    {
        if (BaseUrl is null || !BaseUrl.IsAbsoluteUri || (BaseUrl.Scheme != Uri.UriSchemeHttp && BaseUrl.Scheme != Uri.UriSchemeHttps))
        {
            Fail("BaseUrl must be an absolute http or https URL.");
        }

        if (!string.IsNullOrEmpty(BaseUrl.UserInfo) || !string.IsNullOrEmpty(BaseUrl.Query))
        {
            Fail("BaseUrl must not carry user info or a query string; put the key in ApiKey.");
        }

        if (string.IsNullOrWhiteSpace(Model))
        {
            Fail("Model is required.");
        }

        if (ApiKey is not null && (ApiKey.Length == 0 || ApiKey.AsSpan().IndexOfAny('\r', '\n') >= 0))
        {
            Fail("ApiKey must be null or a non-empty value without line breaks.");
        }

        if (string.IsNullOrWhiteSpace(ApiKeyHeaderName))
        {
            Fail("ApiKeyHeaderName is required.");
        }

        if (Dimensions is <= 0)
        {
            Fail("Dimensions must be positive when set.");
        }

        if (string.IsNullOrWhiteSpace(DimensionsFieldName))
        {
            Fail("DimensionsFieldName is required.");
        }

        Range(MaxInputsPerRequest, 1, 100_000, nameof(MaxInputsPerRequest));
        Range(MaxConcurrentRequests, 1, 1024, nameof(MaxConcurrentRequests));
        Range(MaxAttempts, 1, 100, nameof(MaxAttempts));
        Positive(RequestTimeout, nameof(RequestTimeout));
        Positive(TotalTimeout, nameof(TotalTimeout));
        Positive(MaxDelay, nameof(MaxDelay));
        if (BaseDelay < TimeSpan.Zero || MaxRetryAfter < TimeSpan.Zero)
        {
            Fail("BaseDelay and MaxRetryAfter must not be negative.");
        }

        if (MaxTokensPerInput is <= 0 || MaxTokensPerRequest is <= 0)
        {
            Fail("MaxTokensPerInput and MaxTokensPerRequest must be positive when set.");
        }

        if (MaxResponseBytes is < 1024 or > int.MaxValue)
        {
            Fail("MaxResponseBytes must be between 1 KiB and 2 GiB.");
        }

        if (MaxImageBytes <= 0)
        {
            Fail("MaxImageBytes must be positive.");
        }

        if (!Enum.IsDefined(EncodingFormat) || !Enum.IsDefined(OverlongInputPolicy))
        {
            Fail("EncodingFormat or OverlongInputPolicy has an undefined value.");
        }

        if (string.IsNullOrWhiteSpace(UserAgent) || string.IsNullOrWhiteSpace(ProviderName))
        {
            Fail("UserAgent and ProviderName are required.");
        }

        foreach (var name in ExtraRequestFields.Keys)
        {
            if (ReservedFields.Contains(name) || (Dimensions is not null && name == DimensionsFieldName))
            {
                Fail($"ExtraRequestFields cannot set '{name}'.");
            }
        }
    }

    /// <summary>Describes the settings without the API key.</summary>
    /// <returns>Provider, base URL, model and dimensions; the key shows only as set or not.</returns>
    public override string ToString() =>
        $"{ProviderName} {BaseUrl} model={Model} dimensions={Dimensions?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "default"} apiKey={(ApiKey is null ? "none" : "***")}";

    internal OpenAICompatibleEmbeddingOptions Clone()
    {
        var copy = new OpenAICompatibleEmbeddingOptions
        {
            BaseUrl = BaseUrl,
            ApiKey = ApiKey,
            ApiKeyHeaderName = ApiKeyHeaderName,
            Model = Model,
            Dimensions = Dimensions,
            DimensionsFieldName = DimensionsFieldName,
            MaxInputsPerRequest = MaxInputsPerRequest,
            MaxConcurrentRequests = MaxConcurrentRequests,
            RequestTimeout = RequestTimeout,
            TotalTimeout = TotalTimeout,
            EncodingFormat = EncodingFormat,
            UserAgent = UserAgent,
            MaxTokensPerInput = MaxTokensPerInput,
            MaxTokensPerRequest = MaxTokensPerRequest,
            OverlongInputPolicy = OverlongInputPolicy,
            MaxAttempts = MaxAttempts,
            BaseDelay = BaseDelay,
            MaxDelay = MaxDelay,
            MaxRetryAfter = MaxRetryAfter,
            MaxResponseBytes = MaxResponseBytes,
            MaxImageBytes = MaxImageBytes,
            ProviderName = ProviderName,
        };
        foreach (var (name, value) in ExtraRequestFields)
        {
            copy.ExtraRequestFields[name] = value?.DeepClone();
        }

        return copy;
    }

    private static void Range(int value, int min, int max, string name)
    {
        if (value < min || value > max)
        {
            Fail($"{name} must be between {min} and {max}.");
        }
    }

    private static void Positive(TimeSpan value, string name)
    {
        if (value <= TimeSpan.Zero && value != Timeout.InfiniteTimeSpan)
        {
            Fail($"{name} must be positive.");
        }
    }

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    private static void Fail(string message) =>
        throw new EmbeddingConfigurationException("Invalid OpenAI-compatible embedding options: " + message);
}
