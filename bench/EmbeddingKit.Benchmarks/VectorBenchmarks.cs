using System.Numerics.Tensors;
using BenchmarkDotNet.Attributes;
using EmbeddingKit.Vectors;

namespace EmbeddingKit.Benchmarks;

/// <summary>L2 normalization + fp16: EmbeddingKit's fused pass vs three TensorPrimitives calls vs a scalar loop.</summary>
[MemoryDiagnoser]
public class VectorBenchmarks
{
    private float[] _source = [];
    private float[] _scratch = [];
    private Half[] _destination = [];

    [Params(384, 768, 1024, 1536)]
    public int Dimensions { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(Dimensions);
        _source = Enumerable.Range(0, Dimensions).Select(_ => (float)((random.NextDouble() * 2) - 1)).ToArray();
        _scratch = new float[Dimensions];
        _destination = new Half[Dimensions];
    }

    [Benchmark(Baseline = true)]
    public void Fused() => VectorMath.NormalizeToHalf(_source, _destination);

    [Benchmark]
    public void ThreeTensorPrimitivesCalls()
    {
        var norm = TensorPrimitives.Norm(_source);
        TensorPrimitives.Divide(_source, norm, _scratch);
        TensorPrimitives.ConvertToHalf(_scratch, _destination);
    }

    [Benchmark]
    public void ConvertToHalfOnly() => TensorPrimitives.ConvertToHalf(_source, _destination);

    [Benchmark]
    public void Scalar()
    {
        double sum = 0;
        foreach (var x in _source)
        {
            sum += x * x;
        }

        var norm = (float)Math.Sqrt(sum);
        for (var i = 0; i < _source.Length; i++)
        {
            _destination[i] = (Half)(_source[i] / norm);
        }
    }
}
