using System.Diagnostics.Metrics;
using EmbeddingKit.Diagnostics;

namespace EmbeddingKit.Onnx.Internal;

/// <summary>The instruments of local models, on EmbeddingKit's one meter (names stable, see docs/operations.md).</summary>
internal static class LocalModelDiagnostics
{
    /// <summary><c>embeddingkit.local.inputs.truncated</c>: inputs cut at the model's token limit, tagged <c>model</c>.</summary>
    public static readonly Counter<long> TruncatedInputs = EmbeddingKitDiagnostics.Meter.CreateCounter<long>(
        "embeddingkit.local.inputs.truncated", "{input}", "Inputs of local models cut at the model's token limit.");

    /// <summary><c>embeddingkit.local.tokens</c>: tokens run through local models, tagged <c>model</c>.</summary>
    public static readonly Counter<long> Tokens = EmbeddingKitDiagnostics.Meter.CreateCounter<long>(
        "embeddingkit.local.tokens", "{token}", "Tokens run through local models.");

    /// <summary><c>embeddingkit.local.run.duration</c>: seconds per ONNX run (one batch), tagged <c>model</c>.</summary>
    public static readonly Histogram<double> RunDuration = EmbeddingKitDiagnostics.Meter.CreateHistogram<double>(
        "embeddingkit.local.run.duration", "s", "Time per ONNX Runtime run of a local model.");
}
