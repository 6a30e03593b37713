namespace EmbeddingKit.Chunking;

/// <summary>
/// One chunk of a document: the text embedded for it (the title prefix, if any, then the document's text from
/// <see cref="Start"/> for <see cref="Length"/> characters) and where that span lies in the document, for snippets.
/// Value-equal.
/// </summary>
/// <param name="Index">The chunk's position in the document, from 0.</param>
/// <param name="Start">The offset of the chunk's span in the document (UTF-16 code units).</param>
/// <param name="Length">The length of the span.</param>
/// <param name="Tokens">The chunk's tokens (title included) as the chunker's counter counted them; 0 when unknown (chunks
/// a host made itself).</param>
/// <param name="Text">The text to embed.</param>
public sealed record TextChunk(int Index, int Start, int Length, int Tokens, string Text)
{
    /// <summary>Gets the offset just past the chunk's span in the document.</summary>
    public int End => Start + Length;
}
