namespace EmbeddingKit.Storage;

/// <summary>The text an entity's full-text (lexical) document is made of, stored beside its vector when the storage keeps
/// a lexical index.</summary>
/// <param name="Text">The document's text, as the host's document builder returned it (without the model's prefix).</param>
/// <param name="Title">The title, weighted above the text, or null.</param>
public sealed record LexicalDocument(string Text, string? Title);
