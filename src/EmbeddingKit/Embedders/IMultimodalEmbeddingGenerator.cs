using Microsoft.Extensions.AI;

namespace EmbeddingKit.Embedders;

/// <summary>
/// Embeds mixed inputs (text, images, video frames) into one vector each. It is an
/// <see cref="IEmbeddingGenerator{TInput, TEmbedding}"/> of <see cref="MultimodalInput"/>, so
/// <c>GenerateAsync(inputs)</c> returns a <see cref="GeneratedEmbeddings{TEmbedding}"/> with one embedding per input,
/// in input order, and <see cref="IEmbeddingGenerator.GetService"/> gives the <see cref="EmbeddingGeneratorMetadata"/>.
/// </summary>
public interface IMultimodalEmbeddingGenerator : IEmbeddingGenerator<MultimodalInput, Embedding<float>>
{
    /// <summary>Gets the largest encoded image (or video frame), in bytes, this generator accepts.</summary>
    long MaxImageBytes { get; }
}
