namespace EmbeddingKit.Embedders;

/// <summary>What a <see cref="MultimodalContent"/> part holds.</summary>
public enum MultimodalContentKind
{
    /// <summary>Text, in <see cref="MultimodalContent.Text"/>.</summary>
    Text = 0,

    /// <summary>One encoded image (PNG, JPEG, WebP …), in <see cref="MultimodalContent.Data"/>.</summary>
    Image = 1,

    /// <summary>Frames sampled from a video, each an encoded image, in <see cref="MultimodalContent.Frames"/>.</summary>
    VideoFrames = 2,
}
