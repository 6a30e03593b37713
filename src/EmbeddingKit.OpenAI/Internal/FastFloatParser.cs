using System.Buffers.Text;
using System.Runtime.CompilerServices;

namespace EmbeddingKit.OpenAI.Internal;

/// <summary>
/// Parses a JSON number to the correctly rounded float. Fast path (Clinger): up to 15 significant digits and a decimal
/// exponent within ±22 make both the integer mantissa and the power of ten exact doubles, so one IEEE division or
/// multiplication gives the correctly rounded double; rounding that double to float is then exact unless the double
/// sits exactly on a float rounding midpoint, which is detected and sent to the general parser, as is everything else.
/// </summary>
internal static class FastFloatParser
{
    private static readonly double[] PowersOf10 =
    [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
    ];

    public static bool TryParse(ReadOnlySpan<byte> text, out float value)
    {
        if (TryParseFast(text, out value))
        {
            return true;
        }

        return Utf8Parser.TryParse(text, out value, out var consumed) && consumed == text.Length;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool TryParseFast(ReadOnlySpan<byte> text, out float value)
    {
        value = 0;
        var i = 0;
        var negative = false;
        if (i < text.Length && text[i] == (byte)'-')
        {
            negative = true;
            i++;
        }

        ulong mantissa = 0;
        var digits = 0;
        var exponent = 0;
        var start = i;
        while (i < text.Length && (uint)(text[i] - '0') <= 9)
        {
            if (mantissa != 0 || text[i] != '0')
            {
                digits++;
            }

            mantissa = (mantissa * 10) + (uint)(text[i] - '0');
            i++;
            if (digits > 15)
            {
                return false;
            }
        }

        if (i == start)
        {
            return false;
        }

        if (i < text.Length && text[i] == (byte)'.')
        {
            i++;
            var fractionStart = i;
            while (i < text.Length && (uint)(text[i] - '0') <= 9)
            {
                if (mantissa != 0 || text[i] != '0')
                {
                    digits++;
                }

                mantissa = (mantissa * 10) + (uint)(text[i] - '0');
                exponent--;
                i++;
                if (digits > 15)
                {
                    return false;
                }
            }

            if (i == fractionStart)
            {
                return false;
            }
        }

        if (i < text.Length && (text[i] | 0x20) == (byte)'e')
        {
            i++;
            var negativeExponent = false;
            if (i < text.Length && (text[i] == (byte)'-' || text[i] == (byte)'+'))
            {
                negativeExponent = text[i] == (byte)'-';
                i++;
            }

            var exponentStart = i;
            var explicitExponent = 0;
            while (i < text.Length && (uint)(text[i] - '0') <= 9)
            {
                explicitExponent = (explicitExponent * 10) + (text[i] - '0');
                i++;
                if (explicitExponent > 1000)
                {
                    return false;
                }
            }

            if (i == exponentStart)
            {
                return false;
            }

            exponent += negativeExponent ? -explicitExponent : explicitExponent;
        }

        if (i != text.Length || exponent < -22 || exponent > 22)
        {
            return false;
        }

        double result = mantissa;
        result = exponent < 0 ? result / PowersOf10[-exponent] : result * PowersOf10[exponent];
        if (result != 0)
        {
            // Stay within float's normal range, and leave exact float midpoints to the general parser.
            if (result < 1e-37 || result > 1e37)
            {
                return false;
            }

            var dropped = BitConverter.DoubleToUInt64Bits(result) & 0x1FFF_FFFF;
            if (dropped == 0x1000_0000)
            {
                return false;
            }
        }

        value = (float)(negative ? -result : result);
        return true;
    }
}
