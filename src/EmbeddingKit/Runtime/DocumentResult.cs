using EmbeddingKit.Chunking;

namespace EmbeddingKit.Runtime;

/// <summary>The document builder's answer for one entity: its text (whole, or cut into the host's own chunks), or that
/// it is gone.</summary>
public sealed class DocumentResult
{
    private DocumentResult(string? text, IReadOnlyList<TextChunk>? chunks, string? title = null)
    {
        Content = text;
        Chunks = chunks;
        Title = title;
    }

    /// <summary>The entity no longer exists: its stored embedding is removed and its task completes.</summary>
    public static DocumentResult Gone { get; } = new(null, null);

    /// <summary>Gets the text to embed (for a chunked result, the whole document the chunks' spans point into), or null
    /// when the entity is gone.</summary>
    public string? Content { get; }

    /// <summary>Gets the entity's title, or null. It is not embedded (put it in <see cref="Content"/> too if the vector
    /// should see it); the lexical index weights its words above the text's (<c>setweight</c> A against B), and it is part
    /// of the content hash.</summary>
    public string? Title { get; }

    /// <summary>Gets the host's own chunks of <see cref="Content"/>, or null when the host returned whole text (which
    /// EmbeddingKit chunks itself when the model has a chunker).</summary>
    public IReadOnlyList<TextChunk>? Chunks { get; }

    /// <summary>Gets whether the entity is gone.</summary>
    public bool IsGone => Content is null;

    /// <summary>The entity's text to embed.</summary>
    /// <param name="text">The document.</param>
    public static DocumentResult Text(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return new DocumentResult(text, null);
    }

    /// <summary>The entity's document cut into the host's own chunks (for example one per section, each with its
    /// heading), embedded as given.</summary>
    /// <param name="text">The whole document (what snippets point into).</param>
    /// <param name="chunks">The chunks, at least one, numbered 0, 1, 2, ... in order, each span inside
    /// <paramref name="text"/>.</param>
    /// <exception cref="ArgumentException">No chunks, an empty chunk text, a chunk out of order or a span outside the
    /// text.</exception>
    public static DocumentResult Chunked(string text, IReadOnlyList<TextChunk> chunks)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(chunks);
        if (chunks.Count == 0)
        {
            throw new ArgumentException("A chunked document has at least one chunk; return DocumentResult.Gone for an entity with nothing to embed.", nameof(chunks));
        }

        for (var i = 0; i < chunks.Count; i++)
        {
            var chunk = chunks[i] ?? throw new ArgumentException($"Chunk {i} is null.", nameof(chunks));
            if (chunk.Index != i || chunk.Start < 0 || chunk.Length < 0 || chunk.End > text.Length || string.IsNullOrWhiteSpace(chunk.Text))
            {
                throw new ArgumentException($"Chunk {i} has index {chunk.Index}, span [{chunk.Start}, {chunk.End}) in a text of {text.Length} characters and {(string.IsNullOrWhiteSpace(chunk.Text) ? "no" : "some")} text; chunks are numbered from 0 in order, with spans inside the text and non-blank text.", nameof(chunks));
            }
        }

        return new DocumentResult(text, chunks);
    }

    /// <summary>The entity's document as the host's own chunk texts: the document is their concatenation with a blank
    /// line between them, and each chunk's span is its place there.</summary>
    /// <param name="chunks">The chunk texts, at least one, none blank.</param>
    /// <exception cref="ArgumentException">No chunks, or a blank one.</exception>
    public static DocumentResult Chunked(IReadOnlyList<string> chunks)
    {
        ArgumentNullException.ThrowIfNull(chunks);
        var result = new TextChunk[chunks.Count];
        var offset = 0;
        for (var i = 0; i < chunks.Count; i++)
        {
            var text = chunks[i];
            if (string.IsNullOrWhiteSpace(text))
            {
                throw new ArgumentException($"Chunk {i} is null, empty or whitespace only.", nameof(chunks));
            }

            result[i] = new TextChunk(i, offset, text.Length, 0, text);
            offset += text.Length + 2;
        }

        return Chunked(string.Join("\n\n", chunks), result);
    }

    /// <summary>The entity's text to embed, and a title that the lexical index weights above the text.</summary>
    /// <param name="title">The title (lexical index only; null for none).</param>
    /// <param name="text">The text to embed.</param>
    public static DocumentResult Titled(string? title, string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return new DocumentResult(text, null, title);
    }
}
