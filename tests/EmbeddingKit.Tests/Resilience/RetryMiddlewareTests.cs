using System.Net;
using EmbeddingKit.Resilience;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Time.Testing;

namespace EmbeddingKit.Tests.Resilience;

/// <summary>The retry middleware on hand-written generators; time is a <see cref="FakeTimeProvider"/>, nothing sleeps.</summary>
public sealed class RetryMiddlewareTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static IEmbeddingGenerator<string, Embedding<float>> Build(ScriptedEmbeddingGenerator inner, FakeTimeProvider time, Action<EmbeddingRetryOptions>? configure = null) =>
        inner.AsBuilder().UseRetry(o =>
        {
            o.BaseDelay = TimeSpan.FromSeconds(1);
            o.UseJitter = false;
            configure?.Invoke(o);
        }, time).Build();

    [Fact]
    public async Task GenerateAsync_TransientThenSuccess_RetriesAfterTheBackoffDelay()
    {
        var time = new FakeTimeProvider();
        var inner = new ScriptedEmbeddingGenerator(ScriptedEmbeddingGenerator.Throw(new EmbeddingTransientException("503")), ScriptedEmbeddingGenerator.Succeed());
        using var generator = Build(inner, time);

        var call = generator.GenerateAsync(["a", "bb"], cancellationToken: Ct);
        time.Advance(TimeSpan.FromMilliseconds(999));
        Assert.Equal(1, inner.Calls);
        Assert.False(call.IsCompleted);

        time.Advance(TimeSpan.FromMilliseconds(1));
        var result = await call;

        Assert.Equal(2, inner.Calls);
        Assert.Equal(2, result.Count);
        Assert.Equal(["a", "bb"], inner.Inputs[1]);
    }

    [Fact]
    public async Task GenerateAsync_RateLimitedWithRetryAfter_WaitsTheProviderWaitNotTheBackoff()
    {
        var time = new FakeTimeProvider();
        var inner = new ScriptedEmbeddingGenerator(
            ScriptedEmbeddingGenerator.Throw(new EmbeddingRateLimitedException("429", TimeSpan.FromSeconds(7))), ScriptedEmbeddingGenerator.Succeed());
        using var generator = Build(inner, time);

        var call = generator.GenerateAsync(["a"], cancellationToken: Ct);
        time.Advance(TimeSpan.FromSeconds(6.9));
        Assert.Equal(1, inner.Calls);

        time.Advance(TimeSpan.FromSeconds(0.1));
        await call;
        Assert.Equal(2, inner.Calls);
    }

    [Fact]
    public async Task GenerateAsync_RetryAfterLongerThanMaxRetryAfter_ThrowsAtOnceWithTheProviderWait()
    {
        var time = new FakeTimeProvider();
        var inner = new ScriptedEmbeddingGenerator(ScriptedEmbeddingGenerator.Throw(new EmbeddingRateLimitedException("429", TimeSpan.FromHours(1))));
        using var generator = Build(inner, time);

        var error = await Assert.ThrowsAsync<EmbeddingRateLimitedException>(() => generator.GenerateAsync(["a"], cancellationToken: Ct));

        Assert.Equal(TimeSpan.FromHours(1), error.RetryAfter);
        Assert.Equal(1, inner.Calls);
    }

    [Fact]
    public async Task GenerateAsync_PermanentFailure_IsNotRetried()
    {
        var time = new FakeTimeProvider();
        var inner = new ScriptedEmbeddingGenerator(ScriptedEmbeddingGenerator.Throw(new EmbeddingBadInputException("too long", 0)));
        using var generator = Build(inner, time);

        await Assert.ThrowsAsync<EmbeddingBadInputException>(() => generator.GenerateAsync(["a"], cancellationToken: Ct));

        Assert.Equal(1, inner.Calls);
    }

    [Theory]
    [InlineData(HttpStatusCode.ServiceUnavailable, 2)]
    [InlineData(HttpStatusCode.TooManyRequests, 2)]
    [InlineData(HttpStatusCode.BadRequest, 1)]
    [InlineData(HttpStatusCode.Unauthorized, 1)]
    public async Task GenerateAsync_HostGeneratorHttpError_RetriedOnlyWhenTransient(HttpStatusCode status, int expectedCalls)
    {
        var time = new FakeTimeProvider();
        var inner = new ScriptedEmbeddingGenerator(
            ScriptedEmbeddingGenerator.Throw(new HttpRequestException("failed", null, status)), ScriptedEmbeddingGenerator.Succeed());
        using var generator = Build(inner, time);

        var call = generator.GenerateAsync(["a"], cancellationToken: Ct);
        time.Advance(TimeSpan.FromSeconds(1));
        if (expectedCalls == 1)
        {
            await Assert.ThrowsAsync<HttpRequestException>(() => call);
        }
        else
        {
            await call;
        }

        Assert.Equal(expectedCalls, inner.Calls);
    }

    [Fact]
    public async Task GenerateAsync_AlwaysTransient_ThrowsTheLastErrorAfterMaxAttemptsWithDoublingDelays()
    {
        var time = new FakeTimeProvider();
        var services = new TestServices(time);
        var inner = new ScriptedEmbeddingGenerator(ScriptedEmbeddingGenerator.Throw(new EmbeddingTransientException("down")));
        using var generator = inner.AsBuilder().UseRetry(o =>
        {
            o.MaxAttempts = 3;
            o.BaseDelay = TimeSpan.FromSeconds(1);
            o.UseJitter = false;
        }).Build(services);

        var call = generator.GenerateAsync(["a"], cancellationToken: Ct);
        await Until.TrueAsync(() =>
        {
            time.Advance(TimeSpan.FromMilliseconds(250));
            return call.IsCompleted;
        });

        await Assert.ThrowsAsync<EmbeddingTransientException>(() => call);
        Assert.Equal(3, inner.Calls);
        Assert.Equal([1000d, 2000d], services.Values(1101, "DelayMs"));
        Assert.Equal([2d, 3d], services.Values(1101, "Attempt"));
    }

    [Fact]
    public async Task GenerateAsync_CallerCancelsDuringBackoff_ThrowsOperationCanceledWithoutAnotherAttempt()
    {
        var time = new FakeTimeProvider();
        var inner = new ScriptedEmbeddingGenerator(ScriptedEmbeddingGenerator.Throw(new EmbeddingTransientException("down")));
        using var generator = Build(inner, time);
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(Ct);

        var call = generator.GenerateAsync(["a"], cancellationToken: cancel.Token);
        await cancel.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => call);
        Assert.Equal(1, inner.Calls);
    }

    [Fact]
    public async Task UseRetry_NoTimeProviderGiven_UsesTheServiceProviderClock()
    {
        var time = new FakeTimeProvider();
        var services = new TestServices(time);
        var inner = new ScriptedEmbeddingGenerator(ScriptedEmbeddingGenerator.Throw(new EmbeddingTransientException("503")), ScriptedEmbeddingGenerator.Succeed());
        using var generator = inner.AsBuilder().UseRetry(o => o.UseJitter = false).Build(services);

        var call = generator.GenerateAsync(["a"], cancellationToken: Ct);
        Assert.Equal(1, inner.Calls);
        time.Advance(EmbeddingResilienceDefaults.BaseDelay);
        await call;

        Assert.Equal(2, inner.Calls);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(101)]
    public void UseRetry_InvalidMaxAttempts_ThrowsWhenAdded(int attempts)
    {
        var builder = new ScriptedEmbeddingGenerator(ScriptedEmbeddingGenerator.Succeed()).AsBuilder();

        var error = Assert.Throws<EmbeddingConfigurationException>(() => builder.UseRetry(o => o.MaxAttempts = attempts));

        Assert.Contains("MaxAttempts", error.Message, StringComparison.Ordinal);
    }
}
