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

            var runs = Measure.Interleaved(
            [
                () => VectorMath.NormalizeToHalf(source, destination),
                () =>
                {
                    var norm = TensorPrimitives.Norm(source);
                    TensorPrimitives.Divide(source, norm, scratch);
                    TensorPrimitives.ConvertToHalf(scratch, destination);
                },
                () => TensorPrimitives.ConvertToHalf(source, destination),
                () =>
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
                },
            ], 15, TimeSpan.FromMilliseconds(100));
            var (fused, threeCalls, convertOnly, scalar) = (runs[0], runs[1], runs[2], runs[3]);

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

        // The offline hashing embedder on a 10,000-document corpus (about 120 words each), single thread.
        var words = "postgres vector search embedding index query document model token batch retry provider queue worker storage schema migration latency throughput".Split(' ');
        var corpusRandom = new Random(3);
        var corpus = Enumerable.Range(0, 10_000)
            .Select(_ => string.Join(' ', Enumerable.Range(0, 120).Select(_ => words[corpusRandom.Next(words.Length)] + corpusRandom.Next(50).ToString(CultureInfo.InvariantCulture))))
            .ToArray();
        using var hashing = new EmbeddingKit.Embedders.HashingEmbeddingGenerator();
        var buffer = new float[hashing.Dimensions];
        hashing.Embed(corpus[0], buffer);
        var stopwatch = System.Diagnostics.Stopwatch.StartNew();
        var allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
        foreach (var document in corpus)
        {
            hashing.Embed(document, buffer);
        }

        stopwatch.Stop();
        result.Metrics["hashing_docs_per_s"] = Math.Round(corpus.Length / stopwatch.Elapsed.TotalSeconds);
        result.Metrics["hashing_10k_corpus_s"] = Math.Round(stopwatch.Elapsed.TotalSeconds, 3);
        result.Metrics["hashing_bytes_per_doc"] = Math.Round((double)(GC.GetAllocatedBytesForCurrentThread() - allocatedBefore) / corpus.Length);
        context.Log.WriteLine($"  hashing embedder: 10,000 documents in {stopwatch.Elapsed.TotalSeconds:F2} s");

        result.Notes["vectors_method"] = "variants interleaved, 15 rounds of 100 ms Stopwatch loops after warm-up, fastest round kept; same source vector, hot caches";
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
