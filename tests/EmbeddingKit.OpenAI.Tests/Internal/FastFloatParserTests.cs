using System.Buffers.Text;
using System.Globalization;
using System.Text;
using System.Text.Json;
using EmbeddingKit.OpenAI.Internal;

namespace EmbeddingKit.OpenAI.Tests.Internal;

public sealed class FastFloatParserTests
{
    [Theory]
    [InlineData("R")]
    [InlineData("G9")]
    [InlineData("E7")]
    [InlineData("F8")]
    [InlineData("G17")]
    public void TryParse_RandomFloats_BitExactWithTheRuntimeParser(string format)
    {
        var random = new Random(format.GetHashCode(StringComparison.Ordinal));
        for (var i = 0; i < 200_000; i++)
        {
            var value = i % 2 == 0
                ? (float)((random.NextDouble() * 2) - 1) / (1 << random.Next(0, 12))
                : BitConverter.Int32BitsToSingle(random.Next());
            if (!float.IsFinite(value))
            {
                continue;
            }

            var text = Encoding.UTF8.GetBytes(value.ToString(format, CultureInfo.InvariantCulture));
            Assert.True(Utf8Parser.TryParse(text, out float expected, out _));
            Assert.True(FastFloatParser.TryParse(text, out var actual), Encoding.UTF8.GetString(text));
            Assert.Equal(BitConverter.SingleToInt32Bits(expected), BitConverter.SingleToInt32Bits(actual));
        }
    }

    [Fact]
    public void TryParse_WhatUtf8JsonWriterWrites_RoundTrips()
    {
        var random = new Random(7);
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        for (var i = 0; i < 100_000; i++)
        {
            var value = (float)((random.NextDouble() * 2) - 1) / 30f;
            buffer.Clear();
            using (var writer = new Utf8JsonWriter(buffer))
            {
                writer.WriteNumberValue(value);
            }

            Assert.True(FastFloatParser.TryParse(buffer.WrittenSpan, out var parsed));
            Assert.Equal(value, parsed);
        }
    }

    [Theory]
    [InlineData("0", 0f)]
    [InlineData("-0", -0f)]
    [InlineData("1", 1f)]
    [InlineData("-2.5e-3", -0.0025f)]
    [InlineData("1E+2", 100f)]
    [InlineData("0.000000000000000000000000000000000000000000001", 1e-45f)]
    [InlineData("16777217", 16777216f)]
    [InlineData("123456789012345678901234567890", 1.2345679e29f)]
    public void TryParse_EdgeCases_MatchesExpected(string text, float expected)
    {
        Assert.True(FastFloatParser.TryParse(Encoding.UTF8.GetBytes(text), out var actual));
        Assert.Equal(BitConverter.SingleToInt32Bits(expected), BitConverter.SingleToInt32Bits(actual));
    }

    [Theory]
    [InlineData("")]
    [InlineData("-")]
    [InlineData("abc")]
    [InlineData("1.5x")]
    public void TryParse_NotANumber_ReturnsFalse(string text)
    {
        Assert.False(FastFloatParser.TryParse(Encoding.UTF8.GetBytes(text), out _));
    }
}
