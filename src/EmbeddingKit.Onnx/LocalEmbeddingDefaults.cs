namespace EmbeddingKit.Onnx;

/// <summary>The defaults of <see cref="LocalEmbeddingOptions"/>.</summary>
public static class LocalEmbeddingDefaults
{
    /// <summary>Inputs per ONNX run: 8, the fastest of 4-64 in the <c>local</c> scenario's sweep on a quiet 2-core machine
    /// (docs/benchmarks.md).</summary>
    public const int BatchSize = 8;

    /// <summary>Intra-op threads: the processor count.</summary>
    public static int IntraOpThreads => Environment.ProcessorCount;
}
