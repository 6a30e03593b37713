using EmbeddingKit.TestInfrastructure.FakeProvider;

namespace EmbeddingKit.OpenAI.Tests;

public sealed class RetryAfterTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static double[] LoggedDelaysMs(CapturingLogger logger) =>
        logger.Entries.Where(e => e.EventId.Id == 3003).Select(e => Convert.ToDouble(e.Values["DelayMs"], System.Globalization.CultureInfo.InvariantCulture)).ToArray();

    [Theory]
    [InlineData("retry-after-ms", "20", 20)]
    [InlineData("Retry-After", "0.03", 30)]
    [InlineData("x-ratelimit-reset-requests", "40ms", 40)]
    public async Task GenerateAsync_RateLimitedWithWait_WaitsWhatTheProviderAsked(string header, string value, double expectedMs)
    {
        await using var server = await FakeEmbeddingServer.StartAsync(Ct);
        server.RetryAfterHeaderName = header;
        server.RetryAfterValue = value;
        server.InjectFault(FakeFault.RateLimited);
        var logger = new CapturingLogger();
        using var generator = OpenAICompatibleEmbeddingGenerator.Create(TestOptions.For(server, o => o.MaxRetryAfter = TimeSpan.FromSeconds(1)), logger: logger);

        await generator.GenerateAsync(["one"], cancellationToken: Ct);

        Assert.Equal([expectedMs], LoggedDelaysMs(logger));
        Assert.Equal(2, server.RequestCount);
    }

    [Theory]
    [InlineData("Retry-After", "3600")]
    [InlineData("x-ratelimit-reset-tokens", "6m0s")]
    [InlineData("retry-after-ms", "411000000")]
    public async Task GenerateAsync_RateLimitedWithLongWait_WaitIsCapped(string header, string value)
    {
        await using var server = await FakeEmbeddingServer.StartAsync(Ct);
        server.RetryAfterHeaderName = header;
        server.RetryAfterValue = value;
        server.SetFaultRate(FakeFault.RateLimited, 1);
        var logger = new CapturingLogger();
        using var generator = OpenAICompatibleEmbeddingGenerator.Create(TestOptions.For(server, o =>
        {
            o.MaxAttempts = 3;
            o.MaxRetryAfter = TimeSpan.FromMilliseconds(50);
        }), logger: logger);

        var ex = await Assert.ThrowsAsync<EmbeddingRateLimitedException>(() => generator.GenerateAsync(["one"], cancellationToken: Ct));

        Assert.Equal(TimeSpan.FromMilliseconds(50), ex.RetryAfter);
        Assert.Equal([50d, 50d], LoggedDelaysMs(logger));
        Assert.Equal(3, server.RequestCount);
    }

    [Fact]
    public async Task GenerateAsync_RetryAfterAsHttpDate_IsHonouredAndCapped()
    {
        await using var server = await FakeEmbeddingServer.StartAsync(Ct);
        server.RetryAfterValue = DateTimeOffset.UtcNow.AddHours(2).ToString("r", System.Globalization.CultureInfo.InvariantCulture);
        server.InjectFault(FakeFault.ServiceUnavailable);
        var logger = new CapturingLogger();
        using var generator = OpenAICompatibleEmbeddingGenerator.Create(TestOptions.For(server), logger: logger);

        await generator.GenerateAsync(["one"], cancellationToken: Ct);

        Assert.Equal([50d], LoggedDelaysMs(logger));
    }

    [Fact]
    public async Task GenerateAsync_NoWaitAsked_UsesBackoffWithinMaxDelay()
    {
        await using var server = await FakeEmbeddingServer.StartAsync(Ct);
        server.RetryAfterValue = null;
        server.InjectFault(FakeFault.InternalServerError, 3);
        var logger = new CapturingLogger();
        using var generator = OpenAICompatibleEmbeddingGenerator.Create(TestOptions.For(server), logger: logger);

        await generator.GenerateAsync(["one"], cancellationToken: Ct);

        var delays = LoggedDelaysMs(logger);
        Assert.Equal(3, delays.Length);
        Assert.All(delays, d => Assert.InRange(d, 0, 10));
    }
}
