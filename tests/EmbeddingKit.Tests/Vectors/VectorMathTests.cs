using EmbeddingKit.Vectors;

namespace EmbeddingKit.Tests.Vectors;

public sealed class VectorMathTests
{
    public static TheoryData<int> Dimensions => [1, 3, 7, 8, 15, 16, 17, 31, 100, 384, 768, 1024, 1536, 3072];

    private static float[] RandomVector(Random random, int length, float scale = 1f)
    {
        var vector = new float[length];
        for (var i = 0; i < length; i++)
        {
            vector[i] = (float)((random.NextDouble() * 2) - 1) * scale;
        }

        return vector;
    }

    private static int HalfUlpDistance(Half a, Half b)
    {
        // Distance in representable fp16 steps (sign-magnitude to a monotonic integer line).
        static int Ordered(Half h)
        {
            var bits = BitConverter.HalfToInt16Bits(h);
            return bits < 0 ? -(bits & 0x7FFF) : bits;
        }

        return Math.Abs(Ordered(a) - Ordered(b));
    }

    [Theory]
    [MemberData(nameof(Dimensions))]
    public void NormalizeToHalf_RandomVectors_WithinOneUlpOfExactAndBitExactWithScalarScale(int dimensions)
    {
        var random = new Random(dimensions);
        for (var trial = 0; trial < 50; trial++)
        {
            // Vary the scale so that some values land in fp16 subnormals.
            var source = RandomVector(random, dimensions, trial % 3 == 0 ? 1e-3f : 10f);
            if (trial % 5 == 0 && dimensions > 1)
            {
                source[0] = 1e-9f;
            }

            var result = new Half[dimensions];
            VectorMath.NormalizeToHalf(source, result);

            var norm = MathF.Sqrt(source.Sum(x => x * x));
            var exactNorm = VectorMath.Norm(source);
            for (var i = 0; i < dimensions; i++)
            {
                Assert.InRange(HalfUlpDistance(result[i], (Half)(source[i] / exactNorm)), 0, 1);
                Assert.InRange(HalfUlpDistance(result[i], (Half)(source[i] / norm)), 0, 1);
                Assert.Equal((Half)(source[i] * (1f / exactNorm)), result[i]);
            }
        }
    }

    [Fact]
    public void NormalizeToHalf_SourceUnchangedAndLongerDestination_WritesOnlyPrefix()
    {
        float[] source = [3f, 4f];
        var destination = new Half[3];
        destination[2] = (Half)7f;

        VectorMath.NormalizeToHalf(source, destination);

        Assert.Equal([3f, 4f], source);
        Assert.Equal((Half)0.6f, destination[0]);
        Assert.Equal((Half)0.8f, destination[1]);
        Assert.Equal((Half)7f, destination[2]);
    }

    [Fact]
    public void NormalizeToHalf_ShortDestination_Throws()
    {
        Assert.Throws<ArgumentException>(() => VectorMath.NormalizeToHalf([1f, 2f], new Half[1]));
    }

    [Theory]
    [MemberData(nameof(Dimensions))]
    public void Normalize_RandomVector_HasUnitNormAndSameDirection(int dimensions)
    {
        var source = RandomVector(new Random(dimensions + 1), dimensions, 123f);
        var vector = (float[])source.Clone();

        VectorMath.Normalize(vector);

        Assert.InRange(MathF.Sqrt(vector.Sum(x => x * x)), 0.9999f, 1.0001f);
        Assert.InRange(VectorMath.CosineSimilarity(source, vector), 0.9999f, 1.0001f);
    }

    [Fact]
    public void Normalize_HugeFiniteValues_DoesNotOverflow()
    {
        float[] vector = [3e30f, 4e30f];

        VectorMath.Normalize(vector);

        Assert.Equal(0.6f, vector[0], 6);
        Assert.Equal(0.8f, vector[1], 6);
    }

    [Fact]
    public void Normalize_TinyValues_StillNormalizes()
    {
        float[] vector = [3e-30f, 4e-30f];

        VectorMath.Normalize(vector);

        Assert.Equal(0.6f, vector[0], 5);
        Assert.Equal(0.8f, vector[1], 5);
    }

    public static TheoryData<float[]> InvalidVectors => new()
    {
        Array.Empty<float>(),
        new[] { 0f, 0f, 0f },
        new[] { 1f, float.NaN },
        new[] { float.PositiveInfinity, 1f },
        new[] { 1f, float.NegativeInfinity },
    };

    [Theory]
    [MemberData(nameof(InvalidVectors))]
    public void Normalize_InvalidVector_ThrowsInvalidVectorException(float[] vector)
    {
        Assert.Throws<InvalidVectorException>(() => VectorMath.Normalize(vector));
        Assert.Throws<InvalidVectorException>(() => VectorMath.NormalizeToHalf(vector, new Half[vector.Length]));
        Assert.False(VectorMath.IsValid(vector));
    }

    [Fact]
    public void ToHalf_ValuesWithinRange_ConvertsExactlyAsCast()
    {
        float[] source = [65504f, -65504f, 1.5f, 1e-7f, 0f];
        var destination = new Half[source.Length];

        VectorMath.ToHalf(source, destination);

        Assert.Equal(source.Select(x => (Half)x).ToArray(), destination);
    }

    [Theory]
    [InlineData(65505f)]
    [InlineData(-70000f)]
    [InlineData(float.NaN)]
    [InlineData(float.PositiveInfinity)]
    public void ToHalf_ValueFp16CannotHold_Throws(float bad)
    {
        Assert.Throws<InvalidVectorException>(() => VectorMath.ToHalf([1f, bad], new Half[2]));
    }

    [Fact]
    public void CosineSimilarity_KnownVectors_ReturnsExpected()
    {
        Assert.Equal(1f, VectorMath.CosineSimilarity([1f, 2f], [2f, 4f]), 6);
        Assert.Equal(0f, VectorMath.CosineSimilarity([1f, 0f], [0f, 5f]), 6);
        Assert.Equal(-1f, VectorMath.CosineSimilarity([1f, 1f], [-1f, -1f]), 6);
        Assert.Throws<ArgumentException>(() => VectorMath.CosineSimilarity([1f], [1f, 2f]));
        Assert.Throws<InvalidVectorException>(() => VectorMath.CosineSimilarity([0f, 0f], [1f, 2f]));
    }

    [Fact]
    public void Norm_KnownVector_ReturnsEuclideanLength()
    {
        Assert.Equal(5f, VectorMath.Norm([3f, 4f]));
    }
}
