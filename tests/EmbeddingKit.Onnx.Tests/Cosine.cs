using System.Numerics.Tensors;

namespace EmbeddingKit.Onnx.Tests;

internal static class Cosine
{
    public static float Of(ReadOnlySpan<float> a, ReadOnlySpan<float> b) => TensorPrimitives.CosineSimilarity(a, b);
}
