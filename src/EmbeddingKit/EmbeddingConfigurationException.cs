namespace EmbeddingKit;

/// <summary>
/// The provider refused the request because of how it is configured (HTTP 401, 403 or 404: bad key, no access, unknown
/// model or URL; or a 400 that rejects the request itself, not an input, such as an unsupported <c>dimensions</c> or an
/// unknown field). Retrying cannot help; workers pause the model instead of burning attempts.
/// </summary>
public sealed class EmbeddingConfigurationException : EmbeddingProviderException
{
    /// <summary>Creates the exception.</summary>
    public EmbeddingConfigurationException(string message, Exception? innerException = null)
        : base(message, innerException)
    {
    }
}
