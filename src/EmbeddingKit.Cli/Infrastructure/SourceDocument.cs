namespace EmbeddingKit.Cli.Infrastructure;

/// <summary>One document read from an input file: its id, the text to embed, and its other fields as a JSON object.</summary>
internal sealed record SourceDocument(string Id, string Text, string? MetadataJson);
