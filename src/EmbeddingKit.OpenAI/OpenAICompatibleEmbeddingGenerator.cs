using EmbeddingKit.Embedders;
using EmbeddingKit.OpenAI.Internal;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging;

namespace EmbeddingKit.OpenAI;

/// <summary>
/// Creates embedding generators for OpenAI-compatible <c>/embeddings</c> APIs (OpenAI, Azure OpenAI, DeepInfra,
/// DashScope, Jina, Voyage, Mistral, Ollama, vLLM, TEI — see <see cref="EmbeddingProviderPresets"/>).
/// </summary>
/// <remarks>
/// The generators split inputs into provider-sized requests, run them with bounded concurrency, retry transient
/// failures with Polly (honouring <c>Retry-After</c>, capped), validate every response and return embeddings in input
/// order with token usage. Failures are typed: <see cref="EmbeddingRateLimitedException"/>,
/// <see cref="EmbeddingTransientException"/>, <see cref="EmbeddingBadInputException"/>,
/// <see cref="EmbeddingConfigurationException"/>, <see cref="EmbeddingResponseException"/>. The API key never appears in
/// an exception or a log.
/// </remarks>
public static class OpenAICompatibleEmbeddingGenerator
{
    /// <summary>Creates a text embedding generator.</summary>
    /// <param name="options">The settings; validated and copied, so later changes have no effect.</param>
    /// <param name="httpClient">The client to send requests with, or <see langword="null"/> to create one that does not
    /// follow redirects (recommended). A given client is not disposed with the generator; it should not follow
    /// redirects either, and its own <see cref="HttpClient.Timeout"/> should be infinite or longer than
    /// <see cref="OpenAICompatibleEmbeddingOptions.RequestTimeout"/>.</param>
    /// <param name="logger">Where to log requests, retries and failures; none by default.</param>
    /// <param name="timeProvider">The clock for timeouts and retry delays; <see cref="TimeProvider.System"/> by default.</param>
    /// <returns>The generator; dispose it to release its HTTP client.</returns>
    /// <exception cref="EmbeddingConfigurationException">The options are invalid.</exception>
    public static IEmbeddingGenerator<string, Embedding<float>> Create(
        OpenAICompatibleEmbeddingOptions options, HttpClient? httpClient = null, ILogger? logger = null, TimeProvider? timeProvider = null)
    {
        return new OpenAICompatibleTextEmbeddingGenerator(CreateTransport(options, httpClient, logger, timeProvider));
    }

    /// <summary>Creates a multimodal embedding generator for Jina-style APIs, whose <c>input</c> is a list of
    /// <c>{"text": …}</c> and <c>{"image": "&lt;base64&gt;"}</c> objects. An input of several parts (or video frames) is
    /// embedded part by part and the vectors averaged and normalized. Images over
    /// <see cref="OpenAICompatibleEmbeddingOptions.MaxImageBytes"/> are refused before any request with an
    /// <see cref="EmbeddingBadInputException"/> naming the input.</summary>
    /// <param name="options">The settings; validated and copied.</param>
    /// <param name="httpClient">As for <see cref="Create"/>.</param>
    /// <param name="logger">Where to log; none by default.</param>
    /// <param name="timeProvider">The clock; <see cref="TimeProvider.System"/> by default.</param>
    /// <returns>The generator; dispose it to release its HTTP client.</returns>
    /// <exception cref="EmbeddingConfigurationException">The options are invalid.</exception>
    public static IMultimodalEmbeddingGenerator CreateMultimodal(
        OpenAICompatibleEmbeddingOptions options, HttpClient? httpClient = null, ILogger? logger = null, TimeProvider? timeProvider = null)
    {
        return new OpenAICompatibleMultimodalEmbeddingGenerator(CreateTransport(options, httpClient, logger, timeProvider));
    }

    private static EmbeddingTransport CreateTransport(
        OpenAICompatibleEmbeddingOptions options, HttpClient? httpClient, ILogger? logger, TimeProvider? timeProvider)
    {
        ArgumentNullException.ThrowIfNull(options);
        var copy = options.Clone();
        copy.Validate();
        return new EmbeddingTransport(copy, httpClient, logger, timeProvider);
    }
}
