namespace EmbeddingKit;

/// <summary>
/// The root of every exception EmbeddingKit throws on purpose. Messages never contain secrets such as API keys.
/// </summary>
public class EmbeddingKitException : Exception
{
    /// <summary>Creates an exception with a message.</summary>
    public EmbeddingKitException(string message)
        : base(message)
    {
    }

    /// <summary>Creates an exception with a message and the exception that caused it.</summary>
    public EmbeddingKitException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates an exception with a default message.</summary>
    public EmbeddingKitException()
        : base("An EmbeddingKit operation failed.")
    {
    }

    /// <summary>Gets whether repeating the same operation later may succeed.</summary>
    public virtual bool IsTransient => false;
}
