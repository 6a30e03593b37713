namespace EmbeddingKit.Onnx;

/// <summary>The defaults of <see cref="LocalEmbeddingOptions"/>.</summary>
public static class LocalEmbeddingDefaults
{
    /// <summary>Inputs per ONNX run: 16 (measured on the demo corpus, see docs/benchmarks.md).</summary>
    public const int BatchSize = 16;

    /// <summary>Intra-op threads: the processor count.</summary>
    public static int IntraOpThreads => Environment.ProcessorCount;
}
