namespace EmbeddingKit.Runtime;

/// <summary>The document builder's answer for one entity: its text, or that it is gone.</summary>
public sealed class DocumentResult
{
    private DocumentResult(string? text, string? title = null)
    {
        Content = text;
        Title = title;
    }

    /// <summary>The entity no longer exists: its stored embedding is removed and its task completes.</summary>
    public static DocumentResult Gone { get; } = new(null);

    /// <summary>Gets the text to embed, or null when the entity is gone.</summary>
    public string? Content { get; }

    /// <summary>Gets the entity's title, or null. It is not embedded (put it in <see cref="Content"/> too if the vector
    /// should see it); the lexical index weights its words above the text's (<c>setweight</c> A against B), and it is part
    /// of the content hash.</summary>
    public string? Title { get; }

    /// <summary>Gets whether the entity is gone.</summary>
    public bool IsGone => Content is null;

    /// <summary>The entity's text to embed.</summary>
    public static DocumentResult Text(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return new DocumentResult(text);
    }

    /// <summary>The entity's text to embed, and a title that the lexical index weights above the text.</summary>
    /// <param name="title">The title (lexical index only; null for none).</param>
    /// <param name="text">The text to embed.</param>
    public static DocumentResult Titled(string? title, string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return new DocumentResult(text, title);
    }
}
