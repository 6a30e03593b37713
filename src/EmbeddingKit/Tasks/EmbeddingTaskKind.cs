namespace EmbeddingKit.Tasks;

/// <summary>What an embedding task embeds.</summary>
public enum EmbeddingTaskKind
{
    /// <summary>Text built by the host's document builder.</summary>
    Text = 0,

    /// <summary>Mixed inputs (text, images, video frames) provided by the host's asset source.</summary>
    Multimodal = 1,
}
