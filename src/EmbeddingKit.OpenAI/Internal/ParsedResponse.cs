namespace EmbeddingKit.OpenAI.Internal;

/// <summary>What a response said besides the vectors: token usage, the model that answered and the dimensions.</summary>
internal readonly record struct ParsedResponse(long PromptTokens, long TotalTokens, string? Model, int Dimensions);
