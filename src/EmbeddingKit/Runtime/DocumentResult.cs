namespace EmbeddingKit.Runtime;

/// <summary>The document builder's answer for one entity: its text, or that it is gone.</summary>
public sealed class DocumentResult
{
    private DocumentResult(string? text) => Content = text;

    /// <summary>The entity no longer exists: its stored embedding is removed and its task completes.</summary>
    public static DocumentResult Gone { get; } = new(null);

    /// <summary>Gets the text to embed, or null when the entity is gone.</summary>
    public string? Content { get; }

    /// <summary>Gets whether the entity is gone.</summary>
    public bool IsGone => Content is null;

    /// <summary>The entity's text to embed.</summary>
    public static DocumentResult Text(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return new DocumentResult(text);
    }
}
