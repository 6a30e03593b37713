using EmbeddingKit.OpenAI.Internal;

namespace EmbeddingKit.OpenAI.Tests.Internal;

public sealed class RetryAfterParserTests
{
    [Theory]
    [InlineData("1s", 1000)]
    [InlineData("6m0s", 360_000)]
    [InlineData("250ms", 250)]
    [InlineData("1h2m3.5s", 3_723_500)]
    [InlineData("2", 2000)]
    [InlineData("0.5", 500)]
    public void ParseDuration_GoStyle_ReturnsTheDuration(string value, double expectedMs)
    {
        Assert.Equal(TimeSpan.FromMilliseconds(expectedMs), RetryAfterParser.ParseDuration(value));
    }

    [Theory]
    [InlineData("")]
    [InlineData("soon")]
    [InlineData("5 parsecs")]
    [InlineData("1732000000")]
    public void ParseDuration_Unusable_ReturnsNull(string value)
    {
        Assert.Null(RetryAfterParser.ParseDuration(value));
    }

    [Fact]
    public void ParseRetryAfter_SecondsOrDate_ReturnsTheWait()
    {
        var now = new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero);

        Assert.Equal(TimeSpan.FromSeconds(120), RetryAfterParser.ParseRetryAfter("120", now));
        Assert.Equal(TimeSpan.FromSeconds(90), RetryAfterParser.ParseRetryAfter(now.AddSeconds(90).ToString("r", System.Globalization.CultureInfo.InvariantCulture), now));
        Assert.Equal(TimeSpan.Zero, RetryAfterParser.ParseRetryAfter(now.AddSeconds(-90).ToString("r", System.Globalization.CultureInfo.InvariantCulture), now));
        Assert.Null(RetryAfterParser.ParseRetryAfter("later", now));
    }
}
