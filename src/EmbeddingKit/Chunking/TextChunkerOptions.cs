namespace EmbeddingKit.Chunking;

/// <summary>How <see cref="TextChunker"/> cuts documents. Validated when the chunker is created.</summary>
public sealed class TextChunkerOptions
{
    /// <summary>Gets or sets the most tokens of one chunk, the title prefix included (special tokens such as
    /// <c>[CLS]</c> excluded: leave room for them below the model's window). At least 8. Default
    /// <see cref="TextChunkerDefaults.MaxTokens"/> (256).</summary>
    public int MaxTokens { get; set; } = TextChunkerDefaults.MaxTokens;

    /// <summary>Gets or sets about how many tokens each chunk repeats from the end of the previous one (whole words,
    /// starting at a sentence where one begins inside that stretch). 0 to half of <see cref="MaxTokens"/>. Default
    /// <see cref="TextChunkerDefaults.OverlapTokens"/> (32).</summary>
    public int OverlapTokens { get; set; } = TextChunkerDefaults.OverlapTokens;

    /// <summary>Gets or sets what goes between the title and the chunk's text when a title is given. Default
    /// <see cref="TextChunkerDefaults.TitleSeparator"/> (a blank line).</summary>
    public string TitleSeparator { get; set; } = TextChunkerDefaults.TitleSeparator;

    /// <summary>Throws when an option is out of range.</summary>
    /// <exception cref="EmbeddingConfigurationException">An option is out of range (the message names it).</exception>
    public void Validate()
    {
        if (MaxTokens < 8)
        {
            throw new EmbeddingConfigurationException($"TextChunkerOptions.MaxTokens is {MaxTokens}; it must be at least 8.");
        }

        if (OverlapTokens < 0 || OverlapTokens > MaxTokens / 2)
        {
            throw new EmbeddingConfigurationException($"TextChunkerOptions.OverlapTokens is {OverlapTokens}; it must be 0 to {MaxTokens / 2} (half of MaxTokens).");
        }

        if (TitleSeparator is null)
        {
            throw new EmbeddingConfigurationException("TextChunkerOptions.TitleSeparator is null; use an empty string for none.");
        }
    }
}
