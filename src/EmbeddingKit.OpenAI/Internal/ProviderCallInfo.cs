using System.Net;

namespace EmbeddingKit.OpenAI.Internal;

/// <summary>What an exception about one HTTP exchange must name: provider, model, status and request id.</summary>
internal readonly record struct ProviderCallInfo(string Provider, string Model, HttpStatusCode? StatusCode, string? RequestId)
{
    public EmbeddingResponseException ResponseError(string problem, bool retryable, string? providerMessage = null, Exception? inner = null) =>
        new(Describe($"unusable response: {problem}"), inner)
        {
            Provider = Provider,
            Model = Model,
            StatusCode = StatusCode,
            RequestId = RequestId,
            ProviderMessage = providerMessage,
            Retryable = retryable,
        };

    public string Describe(string what)
    {
        var status = StatusCode is { } code ? $" (HTTP {(int)code} {code})" : "";
        var id = RequestId is null ? "" : $" [request id {RequestId}]";
        return $"Embedding provider '{Provider}', model '{Model}'{status}: {what}{id}";
    }
}
