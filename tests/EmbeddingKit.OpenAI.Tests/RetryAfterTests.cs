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

    // Issue 12 item 12: a wait beyond MaxRetryAfter used to be capped and retried every MaxRetryAfter without end; now
    // the client does not sleep it and the exception carries the provider's own wait to the queue.
    [Theory]
    [InlineData("Retry-After", "3600", 3_600_000d)]
    [InlineData("x-ratelimit-reset-tokens", "6m0s", 360_000d)]
    [InlineData("retry-after-ms", "411000000", 411_000_000d)]
    public async Task GenerateAsync_RateLimitedWithLongWait_NotRetriedAndWaitPassedThrough(string header, string value, double expectedMs)
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

        Assert.Equal(TimeSpan.FromMilliseconds(expectedMs), ex.RetryAfter);
        Assert.Empty(LoggedDelaysMs(logger));
        Assert.Equal(1, server.RequestCount);
    }

    [Fact]
    public async Task GenerateAsync_RetryAfterAsHttpDateBeyondCap_PassedThroughNotRetried()
    {
        await using var server = await FakeEmbeddingServer.StartAsync(Ct);
        server.RetryAfterValue = DateTimeOffset.UtcNow.AddHours(2).ToString("r", System.Globalization.CultureInfo.InvariantCulture);
        server.InjectFault(FakeFault.ServiceUnavailable);
        var logger = new CapturingLogger();
        using var generator = OpenAICompatibleEmbeddingGenerator.Create(TestOptions.For(server), logger: logger);

        var ex = await Assert.ThrowsAsync<EmbeddingTransientException>(() => generator.GenerateAsync(["one"], cancellationToken: Ct));

        Assert.InRange(ex.RetryAfter!.Value, TimeSpan.FromMinutes(110), TimeSpan.FromMinutes(121));
        Assert.Empty(LoggedDelaysMs(logger));
        Assert.Equal(1, server.RequestCount);
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
