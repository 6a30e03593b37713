namespace EmbeddingKit.OpenAI.Internal;

/// <summary>One element of a multimodal request's <c>input</c>: a text or an image.</summary>
internal readonly record struct MultimodalItem(string? Text, ReadOnlyMemory<byte> Image);
