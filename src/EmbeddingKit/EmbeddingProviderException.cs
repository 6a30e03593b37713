using System.Net;

namespace EmbeddingKit;

/// <summary>
/// An embedding provider could not produce embeddings. Carries the provider, the HTTP status, the provider's own error
/// message and its request id, never the API key.
/// </summary>
public class EmbeddingProviderException : EmbeddingKitException
{
    /// <summary>Creates the exception.</summary>
    public EmbeddingProviderException(string message, Exception? innerException = null)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception with a default message.</summary>
    public EmbeddingProviderException()
        : base("The embedding provider failed.")
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public EmbeddingProviderException(string message)
        : base(message)
    {
    }

    /// <summary>Gets the provider name (for example <c>openai</c> or <c>deepinfra</c>), when known.</summary>
    public string? Provider { get; init; }

    /// <summary>Gets the model the request was for, when known.</summary>
    public string? Model { get; init; }

    /// <summary>Gets the HTTP status code of the failed response, when there was one.</summary>
    public HttpStatusCode? StatusCode { get; init; }

    /// <summary>Gets the error message the provider returned, when there was one.</summary>
    public string? ProviderMessage { get; init; }

    /// <summary>Gets the provider's request id (for example from <c>x-request-id</c>), when there was one.</summary>
    public string? RequestId { get; init; }
}
