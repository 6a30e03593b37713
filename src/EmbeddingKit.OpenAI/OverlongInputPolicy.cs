namespace EmbeddingKit.OpenAI;

/// <summary>What to do with an input longer than the model's token limit.</summary>
public enum OverlongInputPolicy
{
    /// <summary>Cut the input to the limit (at a token boundary when the tokenizer is known) and embed the rest.</summary>
    Truncate = 0,

    /// <summary>Throw an <see cref="EmbeddingBadInputException"/> naming the input, before any request is sent.</summary>
    Fail = 1,
}
