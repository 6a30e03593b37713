namespace EmbeddingKit.Embedders;

/// <summary>
/// One part of a <see cref="MultimodalInput"/>: a text, an encoded image with its media type, or frames sampled from a
/// video. The bytes are given by the host (see <see cref="IAssetSource"/>); EmbeddingKit never fetches a URL.
/// </summary>
public sealed class MultimodalContent
{
    private MultimodalContent(MultimodalContentKind kind, string? text, ReadOnlyMemory<byte> data, string? mediaType,
        IReadOnlyList<ReadOnlyMemory<byte>> frames)
    {
        Kind = kind;
        Text = text;
        Data = data;
        MediaType = mediaType;
        Frames = frames;
    }

    /// <summary>Gets what the part holds.</summary>
    public MultimodalContentKind Kind { get; }

    /// <summary>Gets the text of a <see cref="MultimodalContentKind.Text"/> part, otherwise <see langword="null"/>.</summary>
    public string? Text { get; }

    /// <summary>Gets the encoded image of an <see cref="MultimodalContentKind.Image"/> part, otherwise empty.</summary>
    public ReadOnlyMemory<byte> Data { get; }

    /// <summary>Gets the media type (for example <c>image/png</c>) of an image or of every video frame.</summary>
    public string? MediaType { get; }

    /// <summary>Gets the encoded frames of a <see cref="MultimodalContentKind.VideoFrames"/> part, otherwise empty.</summary>
    public IReadOnlyList<ReadOnlyMemory<byte>> Frames { get; }

    /// <summary>Creates a text part.</summary>
    /// <param name="text">The text; not null, empty or whitespace only.</param>
    /// <returns>The part.</returns>
    public static MultimodalContent FromText(string text)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(text);
        return new MultimodalContent(MultimodalContentKind.Text, text, default, null, []);
    }

    /// <summary>Creates an image part.</summary>
    /// <param name="data">The encoded image bytes; not empty.</param>
    /// <param name="mediaType">The media type, starting with <c>image/</c>.</param>
    /// <returns>The part.</returns>
    public static MultimodalContent FromImage(ReadOnlyMemory<byte> data, string mediaType)
    {
        ValidateMediaType(mediaType);
        if (data.IsEmpty)
        {
            throw new ArgumentException("The image has no bytes.", nameof(data));
        }

        return new MultimodalContent(MultimodalContentKind.Image, null, data, mediaType, []);
    }

    /// <summary>Creates a part from frames sampled from a video (each frame an encoded image of the same media type).</summary>
    /// <param name="frames">The frames; at least one, none empty.</param>
    /// <param name="mediaType">The media type of every frame, starting with <c>image/</c>.</param>
    /// <returns>The part.</returns>
    public static MultimodalContent FromVideoFrames(IReadOnlyList<ReadOnlyMemory<byte>> frames, string mediaType)
    {
        ArgumentNullException.ThrowIfNull(frames);
        ValidateMediaType(mediaType);
        if (frames.Count == 0)
        {
            throw new ArgumentException("At least one frame is needed.", nameof(frames));
        }

        for (var i = 0; i < frames.Count; i++)
        {
            if (frames[i].IsEmpty)
            {
                throw new ArgumentException($"Frame {i} has no bytes.", nameof(frames));
            }
        }

        return new MultimodalContent(MultimodalContentKind.VideoFrames, null, default, mediaType, frames);
    }

    private static void ValidateMediaType(string mediaType)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(mediaType);
        if (!mediaType.StartsWith("image/", StringComparison.OrdinalIgnoreCase))
        {
            throw new ArgumentException($"The media type '{mediaType}' is not an image type.", nameof(mediaType));
        }
    }
}
