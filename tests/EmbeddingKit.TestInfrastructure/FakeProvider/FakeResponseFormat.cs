namespace EmbeddingKit.TestInfrastructure.FakeProvider;

/// <summary>How the <see cref="FakeEmbeddingServer"/> encodes vectors.</summary>
public enum FakeResponseFormat
{
    /// <summary>As the request's <c>encoding_format</c> says (float when absent), like OpenAI.</summary>
    AsRequested = 0,

    /// <summary>Always base64, whatever was asked.</summary>
    Base64,

    /// <summary>Always float arrays, whatever was asked (as several providers do).</summary>
#pragma warning disable CA1720 // Named after the wire value "float".
    Float,
#pragma warning restore CA1720
}
