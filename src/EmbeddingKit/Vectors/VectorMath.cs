using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace EmbeddingKit.Vectors;

/// <summary>
/// Vector helpers built on <see cref="TensorPrimitives"/>: L2 norm and normalization, float32 to fp16 (<see cref="Half"/>)
/// conversion and cosine similarity. Every method rejects an empty, all-zero or non-finite vector with an
/// <see cref="InvalidVectorException"/> instead of producing NaN.
/// </summary>
public static class VectorMath
{
    /// <summary>The largest finite magnitude an fp16 value can hold (65504).</summary>
    public const float MaxHalfMagnitude = 65504f;

    /// <summary>Returns the Euclidean (L2) norm of <paramref name="vector"/>.</summary>
    /// <param name="vector">The vector.</param>
    /// <returns>The norm, finite and greater than zero.</returns>
    /// <exception cref="InvalidVectorException">The vector is empty, all zeros or holds NaN or infinity.</exception>
    public static float Norm(ReadOnlySpan<float> vector)
    {
        if (vector.IsEmpty)
        {
            ThrowInvalid("The vector is empty.");
        }

        var norm = TensorPrimitives.Norm(vector);
        if (!float.IsFinite(norm) || norm <= 0f)
        {
            norm = SlowNorm(vector);
        }

        return norm;
    }

    /// <summary>Scales <paramref name="vector"/> in place to unit L2 norm.</summary>
    /// <param name="vector">The vector to normalize.</param>
    /// <exception cref="InvalidVectorException">The vector is empty, all zeros or holds NaN or infinity.</exception>
    public static void Normalize(Span<float> vector)
    {
        var norm = Norm(vector);
        TensorPrimitives.Multiply(vector, 1f / norm, vector);
    }

    /// <summary>
    /// Writes the unit-length version of <paramref name="source"/> to <paramref name="destination"/> as fp16, in one
    /// fused scale-and-convert pass after computing the norm. Each result is the round-to-nearest-even fp16 value of
    /// <c>x * (1 / ‖x‖)</c>, which is within one fp16 ulp of <c>(Half)(x / ‖x‖)</c>.
    /// </summary>
    /// <param name="source">The vector to normalize; it is not modified.</param>
    /// <param name="destination">Where the fp16 values go; at least as long as <paramref name="source"/>.</param>
    /// <exception cref="InvalidVectorException">The vector is empty, all zeros or holds NaN or infinity.</exception>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is too short.</exception>
    public static void NormalizeToHalf(ReadOnlySpan<float> source, Span<Half> destination)
    {
        if (destination.Length < source.Length)
        {
            ThrowDestinationTooShort();
        }

        if (source.IsEmpty)
        {
            ThrowInvalid("The vector is empty.");
        }

        // The scale comes from the double norm when the float one is not usable: values near float.MaxValue (a
        // provider's garbage, but a valid direction) overflow the float norm, while 1 / norm still fits a float.
        var norm = TensorPrimitives.Norm(source);
        var scale = float.IsFinite(norm) && norm > 0f ? 1f / norm : (float)(1.0 / SlowNormDouble(source));
        ScaleToHalf(source, scale, destination);
    }

    /// <summary>
    /// Converts a raw (not normalized) vector to fp16. Values whose magnitude exceeds <see cref="MaxHalfMagnitude"/>
    /// are rejected rather than silently becoming infinity.
    /// </summary>
    /// <param name="source">The vector to convert.</param>
    /// <param name="destination">Where the fp16 values go; at least as long as <paramref name="source"/>.</param>
    /// <exception cref="InvalidVectorException">The vector is empty, holds NaN or infinity, or a value fp16 cannot hold.</exception>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is too short.</exception>
    public static void ToHalf(ReadOnlySpan<float> source, Span<Half> destination)
    {
        if (destination.Length < source.Length)
        {
            ThrowDestinationTooShort();
        }

        if (source.IsEmpty)
        {
            ThrowInvalid("The vector is empty.");
        }

        var maxMagnitude = TensorPrimitives.MaxMagnitude(source);
        if (!float.IsFinite(maxMagnitude))
        {
            ThrowInvalid("The vector holds NaN or infinity.");
        }

        if (Math.Abs(maxMagnitude) > MaxHalfMagnitude)
        {
            ThrowInvalid("The vector holds a value whose magnitude exceeds 65504, the largest fp16 value.");
        }

        TensorPrimitives.ConvertToHalf(source, destination);
    }

    /// <summary>Returns the cosine similarity of two vectors of equal length.</summary>
    /// <param name="x">The first vector.</param>
    /// <param name="y">The second vector.</param>
    /// <returns>A value in [-1, 1].</returns>
    /// <exception cref="ArgumentException">The lengths differ.</exception>
    /// <exception cref="InvalidVectorException">Either vector is empty, all zeros or not finite.</exception>
    public static float CosineSimilarity(ReadOnlySpan<float> x, ReadOnlySpan<float> y)
    {
        if (x.Length != y.Length)
        {
            throw new ArgumentException("The vectors have different lengths.", nameof(y));
        }

        var dot = TensorPrimitives.Dot(x, y);
        return dot / (Norm(x) * Norm(y));
    }

    /// <summary>Returns whether every value is finite and the norm is not zero.</summary>
    /// <param name="vector">The vector to check.</param>
    /// <returns><see langword="true"/> when <see cref="Norm"/> would succeed.</returns>
    public static bool IsValid(ReadOnlySpan<float> vector)
    {
        if (vector.IsEmpty)
        {
            return false;
        }

        var norm = TensorPrimitives.Norm(vector);
        if (float.IsFinite(norm) && norm > 0f)
        {
            return true;
        }

        return !HasNonFinite(vector) && TensorPrimitives.MaxMagnitude(vector) != 0f;
    }

    /// <summary>Multiplies each value by <paramref name="scale"/> and rounds it to fp16 (round to nearest even).
    /// Assumes every product has a magnitude below 65520 (true for a normalized vector).</summary>
    internal static void ScaleToHalf(ReadOnlySpan<float> source, float scale, Span<Half> destination)
    {
        ref var src = ref MemoryMarshal.GetReference(source);
        ref var dst = ref Unsafe.As<Half, short>(ref MemoryMarshal.GetReference(destination));
        var length = source.Length;
        var i = 0;

        if (Vector512.IsHardwareAccelerated && length >= 32)
        {
            var vscale = Vector512.Create(scale);
            for (; i <= length - 32; i += 32)
            {
                var lo = HalfBits512(Vector512.LoadUnsafe(ref src, (nuint)i) * vscale);
                var hi = HalfBits512(Vector512.LoadUnsafe(ref src, (nuint)(i + 16)) * vscale);
                Vector512.Narrow(lo, hi).StoreUnsafe(ref dst, (nuint)i);
            }
        }

        if (Vector256.IsHardwareAccelerated && length - i >= 16)
        {
            var vscale = Vector256.Create(scale);
            for (; i <= length - 16; i += 16)
            {
                var lo = HalfBits256(Vector256.LoadUnsafe(ref src, (nuint)i) * vscale);
                var hi = HalfBits256(Vector256.LoadUnsafe(ref src, (nuint)(i + 8)) * vscale);
                Vector256.Narrow(lo, hi).StoreUnsafe(ref dst, (nuint)i);
            }
        }
        if (Vector128.IsHardwareAccelerated && length - i >= 8)
        {
            var vscale = Vector128.Create(scale);
            for (; i <= length - 8; i += 8)
            {
                var lo = HalfBits128(Vector128.LoadUnsafe(ref src, (nuint)i) * vscale);
                var hi = HalfBits128(Vector128.LoadUnsafe(ref src, (nuint)(i + 4)) * vscale);
                Vector128.Narrow(lo, hi).StoreUnsafe(ref dst, (nuint)i);
            }
        }

        for (; i < length; i++)
        {
            destination[i] = (Half)(source[i] * scale);
        }
    }

    // Round-to-nearest-even float32 -> fp16 bits for finite inputs below 65520 in magnitude
    // (F. Giesen, "float_to_half_fast3_rtne"), eight lanes at a time.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> HalfBits256(Vector256<float> value)
    {
        var bits = value.AsInt32();
        var sign = bits & Vector256.Create(unchecked((int)0x8000_0000));
        var abs = bits ^ sign;

        // Subnormal fp16 results (|x| < 2^-14): let the FPU round by adding a magic number.
        var denormMagic = Vector256.Create(((127 - 15) + (23 - 10) + 1) << 23);
        var subnormal = (abs.AsSingle() + denormMagic.AsSingle()).AsInt32() - denormMagic;

        // Normal results: rebias the exponent and round the mantissa to nearest even.
        var mantissaOdd = Vector256.ShiftRightLogical(abs, 13) & Vector256<int>.One;
        var normal = Vector256.ShiftRightLogical(abs + Vector256.Create(((15 - 127) << 23) + 0xFFF) + mantissaOdd, 13);

        var isSubnormal = Vector256.LessThan(abs, Vector256.Create(113 << 23));
        var result = Vector256.ConditionalSelect(isSubnormal, subnormal, normal);
        return result | Vector256.ShiftRightLogical(sign, 16);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> HalfBits512(Vector512<float> value)
    {
        var bits = value.AsInt32();
        var sign = bits & Vector512.Create(unchecked((int)0x8000_0000));
        var abs = bits ^ sign;
        var denormMagic = Vector512.Create(((127 - 15) + (23 - 10) + 1) << 23);
        var subnormal = (abs.AsSingle() + denormMagic.AsSingle()).AsInt32() - denormMagic;
        var mantissaOdd = Vector512.ShiftRightLogical(abs, 13) & Vector512<int>.One;
        var normal = Vector512.ShiftRightLogical(abs + Vector512.Create(((15 - 127) << 23) + 0xFFF) + mantissaOdd, 13);
        var isSubnormal = Vector512.LessThan(abs, Vector512.Create(113 << 23));
        var result = Vector512.ConditionalSelect(isSubnormal, subnormal, normal);
        return result | Vector512.ShiftRightLogical(sign, 16);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<int> HalfBits128(Vector128<float> value)
    {
        var bits = value.AsInt32();
        var sign = bits & Vector128.Create(unchecked((int)0x8000_0000));
        var abs = bits ^ sign;
        var denormMagic = Vector128.Create(((127 - 15) + (23 - 10) + 1) << 23);
        var subnormal = (abs.AsSingle() + denormMagic.AsSingle()).AsInt32() - denormMagic;
        var mantissaOdd = Vector128.ShiftRightLogical(abs, 13) & Vector128<int>.One;
        var normal = Vector128.ShiftRightLogical(abs + Vector128.Create(((15 - 127) << 23) + 0xFFF) + mantissaOdd, 13);
        var isSubnormal = Vector128.LessThan(abs, Vector128.Create(113 << 23));
        var result = Vector128.ConditionalSelect(isSubnormal, subnormal, normal);
        return result | Vector128.ShiftRightLogical(sign, 16);
    }

    private static float SlowNorm(ReadOnlySpan<float> vector)
    {
        var norm = (float)SlowNormDouble(vector);
        if (!float.IsFinite(norm))
        {
            ThrowInvalid("The vector's norm exceeds the float range.");
        }

        return norm;
    }

    private static double SlowNormDouble(ReadOnlySpan<float> vector)
    {
        // Reached for zero, non-finite, or so large that the float sum of squares overflowed.
        if (HasNonFinite(vector))
        {
            ThrowInvalid("The vector holds NaN or infinity.");
        }

        double sum = 0;
        foreach (var value in vector)
        {
            sum += (double)value * value;
        }

        var norm = Math.Sqrt(sum);
        if (!((float)norm > 0f))
        {
            ThrowInvalid("The vector is all zeros (or too small to normalize).");
        }

        return norm;
    }

    private static bool HasNonFinite(ReadOnlySpan<float> vector)
    {
        foreach (var value in vector)
        {
            if (!float.IsFinite(value))
            {
                return true;
            }
        }

        return false;
    }

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    private static void ThrowInvalid(string message) => throw new InvalidVectorException(message);

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    private static void ThrowDestinationTooShort() =>
        throw new ArgumentException("The destination is shorter than the source.", "destination");
}
