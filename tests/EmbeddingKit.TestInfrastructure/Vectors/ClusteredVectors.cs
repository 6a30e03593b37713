namespace EmbeddingKit.TestInfrastructure.Vectors;

/// <summary>Seeded synthetic embeddings: Gaussian clusters around random unit centres, every vector L2-normalized.</summary>
public sealed class ClusteredVectors
{
    private readonly float[][] _centres;
    private readonly Random _random;
    private readonly float _spread;

    /// <param name="dimensions">Vector length.</param>
    /// <param name="clusters">Number of cluster centres.</param>
    /// <param name="seed">Seed of every draw.</param>
    /// <param name="spread">Norm of the noise added to a unit centre (about; the noise is N(0, spread²/dims) per dimension).</param>
    public ClusteredVectors(int dimensions, int clusters, int seed, float spread = 1.0f)
    {
        Dimensions = dimensions;
        _random = new Random(seed);
        _spread = spread;
        _centres = [.. Enumerable.Range(0, clusters).Select(_ => Normalize(Gaussian(dimensions, 1f)))];
    }

    public int Dimensions { get; }

    /// <summary>The next point: a random centre plus Gaussian noise, normalized, in fp16.</summary>
    public Half[] Next()
    {
        var centre = _centres[_random.Next(_centres.Length)];
        var noise = Gaussian(Dimensions, _spread / MathF.Sqrt(Dimensions));
        for (var i = 0; i < noise.Length; i++)
        {
            noise[i] += centre[i];
        }

        return ToHalf(Normalize(noise));
    }

    /// <summary>A random unit vector with no cluster (a planted point far from every cluster).</summary>
    public Half[] Outlier() => ToHalf(Normalize(Gaussian(Dimensions, 1f)));

    public static Half[] ToHalf(float[] values) => [.. values.Select(v => (Half)v)];

    public static float[] Normalize(float[] values)
    {
        var norm = MathF.Sqrt(values.Sum(v => v * v));
        return [.. values.Select(v => v / norm)];
    }

    private float[] Gaussian(int n, float sigma)
    {
        var values = new float[n];
        for (var i = 0; i < n; i++)
        {
            // Box-Muller.
            var u1 = 1.0 - _random.NextDouble();
            var u2 = _random.NextDouble();
            values[i] = (float)(Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2)) * sigma;
        }

        return values;
    }
}
