namespace EmbeddingKit.OpenAI;

/// <summary>
/// Presets for common OpenAI-compatible embedding providers. The limits are the ones documented or reported by the
/// providers when this was written, kept conservative; every response is validated anyway, so a provider that ignores
/// <c>encoding_format</c> or <c>dimensions</c> is caught or handled rather than trusted.
/// </summary>
public static class EmbeddingProviderPresets
{
    /// <summary>OpenAI (<c>https://api.openai.com/v1</c>): up to 2048 inputs and 300k tokens per request (96 sent by
    /// default to stay under the token cap), base64, <c>dimensions</c> for text-embedding-3-*.</summary>
    public static EmbeddingProviderPreset OpenAI { get; } = new()
    {
        Name = "openai",
        DisplayName = "OpenAI",
        BaseUrl = "https://api.openai.com/v1",
        MaxInputsPerRequest = 96,
        SupportsBase64 = true,
        SupportsDimensions = true,
        Notes = "2048 inputs and 300k tokens per request at most; dimensions only for text-embedding-3-*; 8191 tokens per input.",
    };

    /// <summary>Azure OpenAI v1 API (<c>https://{resource}.openai.azure.com/openai/v1</c>), key in the <c>api-key</c>
    /// header, the model being the deployment name.</summary>
    public static EmbeddingProviderPreset AzureOpenAI { get; } = new()
    {
        Name = "azure-openai",
        DisplayName = "Azure OpenAI",
        BaseUrl = "https://{resource}.openai.azure.com/openai/v1",
        MaxInputsPerRequest = 96,
        SupportsBase64 = true,
        SupportsDimensions = true,
        ApiKeyHeaderName = "api-key",
        Notes = "Model is the deployment name; replace {resource}; same limits as OpenAI.",
    };

    /// <summary>DeepInfra (<c>https://api.deepinfra.com/v1/openai</c>): reported to reject base64, so floats are asked for.</summary>
    public static EmbeddingProviderPreset DeepInfra { get; } = new()
    {
        Name = "deepinfra",
        DisplayName = "DeepInfra",
        BaseUrl = "https://api.deepinfra.com/v1/openai",
        MaxInputsPerRequest = 96,
        SupportsBase64 = false,
        SupportsDimensions = true,
        Notes = "Reported to reject encoding_format=base64; dimensions honoured only by Matryoshka models (size is checked).",
    };

    /// <summary>Alibaba DashScope compatible mode (<c>https://dashscope-intl.aliyuncs.com/compatible-mode/v1</c>):
    /// at most 10 inputs per request, floats only.</summary>
    public static EmbeddingProviderPreset DashScope { get; } = new()
    {
        Name = "dashscope",
        DisplayName = "Alibaba Cloud DashScope",
        BaseUrl = "https://dashscope-intl.aliyuncs.com/compatible-mode/v1",
        MaxInputsPerRequest = 10,
        SupportsBase64 = false,
        SupportsDimensions = true,
        Notes = "Batch limit 10 for text-embedding-v3/v4; mainland endpoint is dashscope.aliyuncs.com; text_type may be sent as an extra field.",
    };

    /// <summary>Jina AI (<c>https://api.jina.ai/v1</c>): <c>task</c> as an extra field, also multimodal (jina-clip,
    /// jina-embeddings-v4).</summary>
    public static EmbeddingProviderPreset Jina { get; } = new()
    {
        Name = "jina",
        DisplayName = "Jina AI",
        BaseUrl = "https://api.jina.ai/v1",
        MaxInputsPerRequest = 128,
        SupportsBase64 = true,
        SupportsDimensions = true,
        DefaultExtraFields = new Dictionary<string, string>(StringComparer.Ordinal) { ["task"] = "retrieval.passage" },
        QueryExtraFields = new Dictionary<string, string>(StringComparer.Ordinal) { ["task"] = "retrieval.query" },
        Notes = "Use task=retrieval.query for queries; multimodal input is a list of {text} / {image} objects.",
    };

    /// <summary>Voyage AI (<c>https://api.voyageai.com/v1</c>): <c>input_type</c> and <c>output_dimension</c>.</summary>
    public static EmbeddingProviderPreset Voyage { get; } = new()
    {
        Name = "voyage",
        DisplayName = "Voyage AI",
        BaseUrl = "https://api.voyageai.com/v1",
        MaxInputsPerRequest = 128,
        SupportsBase64 = true,
        SupportsDimensions = true,
        DimensionsFieldName = "output_dimension",
        DefaultExtraFields = new Dictionary<string, string>(StringComparer.Ordinal) { ["input_type"] = "document" },
        QueryExtraFields = new Dictionary<string, string>(StringComparer.Ordinal) { ["input_type"] = "query" },
        Notes = "Up to 1000 inputs and a per-model token cap per request; input_type=query for queries.",
    };

    /// <summary>Mistral (<c>https://api.mistral.ai/v1</c>): floats; mistral-embed has a fixed 1024 dimensions.</summary>
    public static EmbeddingProviderPreset Mistral { get; } = new()
    {
        Name = "mistral",
        DisplayName = "Mistral AI",
        BaseUrl = "https://api.mistral.ai/v1",
        MaxInputsPerRequest = 64,
        SupportsBase64 = false,
        SupportsDimensions = false,
        DimensionsFieldName = "output_dimension",
        Notes = "mistral-embed is fixed at 1024 dimensions; codestral-embed takes output_dimension.",
    };

    /// <summary>Ollama's OpenAI-compatible API (<c>http://localhost:11434/v1</c>), no key.</summary>
    public static EmbeddingProviderPreset Ollama { get; } = new()
    {
        Name = "ollama",
        DisplayName = "Ollama",
        BaseUrl = "http://localhost:11434/v1",
        MaxInputsPerRequest = 32,
        SupportsBase64 = false,
        SupportsDimensions = false,
        RequiresApiKey = false,
        Notes = "Local; older versions ignore encoding_format and dimensions (both handled: the size is checked).",
    };

    /// <summary>vLLM's OpenAI-compatible server (<c>http://localhost:8000/v1</c>), base64 supported.</summary>
    public static EmbeddingProviderPreset Vllm { get; } = new()
    {
        Name = "vllm",
        DisplayName = "vLLM",
        BaseUrl = "http://localhost:8000/v1",
        MaxInputsPerRequest = 128,
        SupportsBase64 = true,
        SupportsDimensions = true,
        RequiresApiKey = false,
        Notes = "dimensions only for Matryoshka models; the key is optional (--api-key).",
    };

    /// <summary>Hugging Face Text Embeddings Inference (<c>http://localhost:8080/v1</c>); its default client batch
    /// limit is 32.</summary>
    public static EmbeddingProviderPreset Tei { get; } = new()
    {
        Name = "tei",
        DisplayName = "Text Embeddings Inference",
        BaseUrl = "http://localhost:8080/v1",
        MaxInputsPerRequest = 32,
        SupportsBase64 = true,
        SupportsDimensions = false,
        RequiresApiKey = false,
        Notes = "--max-client-batch-size defaults to 32; model is ignored (the server serves one); returns 413 over the batch limit.",
    };

    /// <summary>Gets every preset, in a fixed order.</summary>
    public static IReadOnlyList<EmbeddingProviderPreset> All { get; } =
        [OpenAI, AzureOpenAI, DeepInfra, DashScope, Jina, Voyage, Mistral, Ollama, Vllm, Tei];

    /// <summary>Finds a preset by name, ignoring case.</summary>
    /// <param name="name">The preset name, for example <c>openai</c> or <c>dashscope</c>.</param>
    /// <returns>The preset.</returns>
    /// <exception cref="ArgumentException">No preset has that name.</exception>
    public static EmbeddingProviderPreset Get(string name)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        foreach (var preset in All)
        {
            if (string.Equals(preset.Name, name, StringComparison.OrdinalIgnoreCase))
            {
                return preset;
            }
        }

        throw new ArgumentException($"Unknown embedding provider preset '{name}'. Known: {string.Join(", ", All.Select(p => p.Name))}.", nameof(name));
    }
}
