namespace EmbeddingKit.OpenAI;

/// <summary>The <c>encoding_format</c> asked of the provider. The response is read in whichever form the provider
/// actually sends, whatever was asked.</summary>
public enum EmbeddingEncodingFormat
{
    /// <summary>Little-endian float32 bytes in base64: about a quarter of the size of float JSON and far faster to
    /// decode. The default.</summary>
    Base64 = 0,

    /// <summary>A JSON array of numbers, for providers that reject base64.</summary>
#pragma warning disable CA1720 // Named after the wire value "float" that it sends.
    Float = 1,
#pragma warning restore CA1720
}
