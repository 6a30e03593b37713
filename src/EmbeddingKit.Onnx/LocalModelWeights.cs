using System.Diagnostics.CodeAnalysis;

namespace EmbeddingKit.Onnx;

/// <summary>The number format a local model's matrix multiplies run in.</summary>
[SuppressMessage("Naming", "CA1720:Identifier contains type name", Justification = "The members name number formats, as ONNX and every quantization tool do.")]
public enum LocalModelWeights
{
    /// <summary>The graph as shipped: 32-bit floats.</summary>
    Float32,

    /// <summary>8-bit integer weights, made from the float graph when the model is loaded (nothing is written to disk):
    /// every matrix multiply by a constant 2-D weight becomes ONNX Runtime's <c>DynamicQuantizeMatMul</c>, with one
    /// symmetric scale per output column and the activations quantized per run. Faster on processors with 8-bit dot
    /// products (AVX-VNNI, AVX-512 VNNI, ARM dot product); the vectors differ slightly from <see cref="Float32"/>'s, so
    /// the two are different models for stored vectors.</summary>
    Int8,
}
