using EmbeddingKit.TestInfrastructure.FakeProvider;
using Microsoft.Extensions.Time.Testing;

namespace EmbeddingKit.OpenAI.Tests;

public sealed class RetryAfterTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static double[] LoggedDelaysMs(CapturingLogger logger) =>
        logger.Entries.Where(e => e.EventId.Id == 3003).Select(e => Convert.ToDouble(e.Values["DelayMs"], System.Globalization.CultureInfo.InvariantCulture)).ToArray();

    /// <summary>Runs a call on a <see cref="FakeTimeProvider"/>, advancing it in steps until the call completes (the
    /// fake server answers on real sockets, so the steps wait for it between advances; nothing waits on the clock).</summary>
    private static async Task<T> AdvanceUntilDoneAsync<T>(FakeTimeProvider time, Task<T> call, TimeSpan step)
    {
        for (var i = 0; i < 20_000 && !call.IsCompleted; i++)
        {
            time.Advance(step);
            await Task.Delay(1, Ct);
        }

        return await call;
    }

    [Theory]
    [InlineData("retry-after-ms", "2000", 2_000)]
    [InlineData("Retry-After", "1.5", 1_500)]
    [InlineData("Retry-After", "30", 30_000)]
    [InlineData("x-ratelimit-reset-requests", "40s", 40_000)]
    [InlineData("x-ratelimit-reset-tokens", "6m0s", 360_000)]
    public async Task GenerateAsync_RateLimitedWithWait_WaitsWhatTheProviderAsked(string header, string value, double expectedMs)
    {
        await using var server = await FakeEmbeddingServer.StartAsync(Ct);
        server.RetryAfterHeaderName = header;
        server.RetryAfterValue = value;
        server.InjectFault(FakeFault.RateLimited);
        var logger = new CapturingLogger();
        var time = new FakeTimeProvider();
        var start = time.GetUtcNow();
        using var generator = OpenAICompatibleEmbeddingGenerator.Create(TestOptions.For(server, o =>
        {
            o.MaxRetryAfter = TimeSpan.FromMinutes(10);
            o.RequestTimeout = Timeout.InfiniteTimeSpan;
            o.TotalTimeout = Timeout.InfiniteTimeSpan;
        }), logger: logger, timeProvider: time);

        await AdvanceUntilDoneAsync(time, generator.GenerateAsync(["one"], cancellationToken: Ct), TimeSpan.FromMilliseconds(expectedMs / 50));

        Assert.Equal([expectedMs], LoggedDelaysMs(logger));
        Assert.Equal(2, server.RequestCount);
        Assert.True(time.GetUtcNow() - start >= TimeSpan.FromMilliseconds(expectedMs), "the retry went before the asked wait had passed");
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
    public async Task GenerateAsync_NoWaitAsked_UsesExponentialBackoffWithinMaxDelay()
    {
        await using var server = await FakeEmbeddingServer.StartAsync(Ct);
        server.RetryAfterValue = null;
        server.InjectFault(FakeFault.InternalServerError, 4);
        var logger = new CapturingLogger();
        var time = new FakeTimeProvider();
        using var generator = OpenAICompatibleEmbeddingGenerator.Create(TestOptions.For(server, o =>
        {
            o.MaxAttempts = 5;
            o.BaseDelay = TimeSpan.FromSeconds(1);
            o.MaxDelay = TimeSpan.FromSeconds(5);
            o.RequestTimeout = Timeout.InfiniteTimeSpan;
            o.TotalTimeout = Timeout.InfiniteTimeSpan;
        }), logger: logger, timeProvider: time);

        await AdvanceUntilDoneAsync(time, generator.GenerateAsync(["one"], cancellationToken: Ct), TimeSpan.FromMilliseconds(100));

        var delays = LoggedDelaysMs(logger);
        Assert.Equal(4, delays.Length);
        Assert.All(delays, d => Assert.InRange(d, 0, 5_000));
        Assert.Equal(5, server.RequestCount);
    }
}
