namespace EmbeddingKit.Chunking;

/// <summary>The defaults of <see cref="TextChunkerOptions"/>.</summary>
public static class TextChunkerDefaults
{
    /// <summary>The most tokens of one chunk, title included: 256.</summary>
    public const int MaxTokens = 256;

    /// <summary>The tokens a chunk repeats from the end of the one before it: 32.</summary>
    public const int OverlapTokens = 32;

    /// <summary>What goes between the title and the chunk's text: a blank line.</summary>
    public const string TitleSeparator = "\n\n";
}
