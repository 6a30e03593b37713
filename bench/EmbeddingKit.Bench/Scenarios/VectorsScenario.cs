using System.Globalization;
using System.Numerics.Tensors;
using EmbeddingKit.Vectors;

namespace EmbeddingKit.Bench.Scenarios;

/// <summary>L2 normalization + fp16 conversion: EmbeddingKit's fused pass vs three TensorPrimitives calls vs a scalar loop.</summary>
internal sealed class VectorsScenario : IBenchScenario
{
    private static readonly int[] Dimensions = [384, 768, 1024, 1536];

    public string Name => "vectors";

    public string Description => "normalize + fp16 at 384/768/1024/1536 dims: fused vs three TensorPrimitives calls vs scalar";

    public Task<BenchResult> RunAsync(BenchContext context, CancellationToken cancellationToken)
    {
        var result = new BenchResult { TableHeader = ["dims", "fused ns", "3 calls ns", "ConvertToHalf ns", "scalar ns", "fused alloc B", "max ulp"] };
        var duration = TimeSpan.FromMilliseconds(400);
        foreach (var dims in Dimensions)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var source = new float[dims];
            var random = new Random(dims);
            for (var i = 0; i < dims; i++)
            {
                source[i] = (float)((random.NextDouble() * 2) - 1);
            }

            var destination = new Half[dims];
            var scratch = new float[dims];

            var fused = Measure.BestOf(5, () => Measure.Sync(() => VectorMath.NormalizeToHalf(source, destination), duration));
            var threeCalls = Measure.BestOf(5, () => Measure.Sync(() =>
            {
                var norm = TensorPrimitives.Norm(source);
                TensorPrimitives.Divide(source, norm, scratch);
                TensorPrimitives.ConvertToHalf(scratch, destination);
            }, duration));
            var convertOnly = Measure.BestOf(5, () => Measure.Sync(() => TensorPrimitives.ConvertToHalf(source, destination), duration));
            var scalar = Measure.BestOf(3, () => Measure.Sync(() =>
            {
                double sum = 0;
                for (var i = 0; i < source.Length; i++)
                {
                    sum += source[i] * source[i];
                }

                var norm = (float)Math.Sqrt(sum);
                for (var i = 0; i < source.Length; i++)
                {
                    destination[i] = (Half)(source[i] / norm);
                }
            }, duration, warmup: 100));

            // Accuracy on this vector: distance in fp16 steps from (Half)(x / ||x||).
            VectorMath.NormalizeToHalf(source, destination);
            var exactNorm = VectorMath.Norm(source);
            var maxUlp = 0;
            for (var i = 0; i < dims; i++)
            {
                maxUlp = Math.Max(maxUlp, Math.Abs(Ordered(destination[i]) - Ordered((Half)(source[i] / exactNorm))));
            }

            result.Metrics[$"normalize_fp16_ns_{dims}"] = Math.Round(fused.NsPerOp, 1);
            result.Metrics[$"three_calls_ns_{dims}"] = Math.Round(threeCalls.NsPerOp, 1);
            result.Metrics[$"convert_to_half_only_ns_{dims}"] = Math.Round(convertOnly.NsPerOp, 1);
            result.Metrics[$"scalar_ns_{dims}"] = Math.Round(scalar.NsPerOp, 1);
            result.Metrics[$"normalize_fp16_max_ulp_{dims}"] = maxUlp;
            result.Metrics[$"normalize_fp16_bytes_{dims}"] = fused.BytesPerOp;
            result.Table.Add([
                dims.ToString(CultureInfo.InvariantCulture), F(fused.NsPerOp), F(threeCalls.NsPerOp), F(convertOnly.NsPerOp), F(scalar.NsPerOp),
                F(fused.BytesPerOp), maxUlp.ToString(CultureInfo.InvariantCulture),
            ]);
            context.Log.WriteLine($"  {dims} dims done");
        }

        result.Notes["vectors_method"] = "best of 5 Stopwatch runs of ~400 ms after warm-up, same source vector, hot caches";
        result.Notes["vector_isa"] = System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated ? "Vector512" : System.Runtime.Intrinsics.Vector256.IsHardwareAccelerated ? "Vector256" : "Vector128";
        return Task.FromResult(result);
    }

    private static int Ordered(Half h)
    {
        var bits = BitConverter.HalfToInt16Bits(h);
        return bits < 0 ? -(bits & 0x7FFF) : bits;
    }

    private static string F(double value) => value.ToString("F1", CultureInfo.InvariantCulture);
}
