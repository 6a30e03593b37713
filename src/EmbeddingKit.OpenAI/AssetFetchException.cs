namespace EmbeddingKit.OpenAI;

/// <summary>An asset could not be fetched: refused by policy (address, scheme, size, type), or the server failed.</summary>
public sealed class AssetFetchException : EmbeddingKitException
{
    private readonly bool _transient;

    /// <summary>Creates the exception.</summary>
    /// <param name="message">What went wrong, naming the URL's host (never its query string).</param>
    /// <param name="transient">Whether a later attempt may succeed (a timeout, a 5xx, a reset connection).</param>
    /// <param name="innerException">The cause, if any.</param>
    public AssetFetchException(string message, bool transient = false, Exception? innerException = null)
        : base(message, innerException)
    {
        _transient = transient;
    }

    /// <summary>Creates the exception with a default message.</summary>
    public AssetFetchException()
        : base("An asset could not be fetched.")
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    /// <param name="message">What went wrong.</param>
    public AssetFetchException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and its cause.</summary>
    /// <param name="message">What went wrong.</param>
    /// <param name="innerException">The cause.</param>
    public AssetFetchException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }

    /// <inheritdoc />
    public override bool IsTransient => _transient;
}
