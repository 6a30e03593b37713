namespace EmbeddingKit.Embedders;

/// <summary>
/// One thing to embed into a single vector, made of one or more parts (text, images, video frames); for example a
/// product's title and photo.
/// </summary>
public sealed class MultimodalInput
{
    /// <summary>Creates an input from its parts.</summary>
    /// <param name="parts">At least one part.</param>
    /// <exception cref="ArgumentException">There are no parts or a part is null.</exception>
    public MultimodalInput(IReadOnlyList<MultimodalContent> parts)
    {
        ArgumentNullException.ThrowIfNull(parts);
        if (parts.Count == 0)
        {
            throw new ArgumentException("A multimodal input needs at least one part.", nameof(parts));
        }

        for (var i = 0; i < parts.Count; i++)
        {
            if (parts[i] is null)
            {
                throw new ArgumentException($"Part {i} is null.", nameof(parts));
            }
        }

        Parts = parts;
    }

    /// <summary>Creates an input from its parts.</summary>
    /// <param name="parts">At least one part.</param>
    public MultimodalInput(params MultimodalContent[] parts)
        : this((IReadOnlyList<MultimodalContent>)parts)
    {
    }

    /// <summary>Gets the parts, in order.</summary>
    public IReadOnlyList<MultimodalContent> Parts { get; }
}
