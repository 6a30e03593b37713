namespace EmbeddingKit;

/// <summary>
/// The provider rejected an input (HTTP 400 or 413), or an input broke a local rule such as the token limit.
/// <see cref="InputIndex"/> names the offending input when it is known.
/// </summary>
public sealed class EmbeddingBadInputException : EmbeddingProviderException
{
    /// <summary>Creates the exception.</summary>
    public EmbeddingBadInputException(string message, int? inputIndex = null, Exception? innerException = null)
        : base(message, innerException)
    {
        InputIndex = inputIndex;
    }

    /// <summary>Gets the position of the offending input in the caller's list, when known.</summary>
    public int? InputIndex { get; }
}
