using EmbeddingKit.Resilience;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Time.Testing;

namespace EmbeddingKit.Tests.Resilience;

public sealed class TimeoutMiddlewareTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task GenerateAsync_InnerHangsPastTheTimeout_ThrowsTransient()
    {
        var time = new FakeTimeProvider();
        var inner = new ScriptedEmbeddingGenerator(ScriptedEmbeddingGenerator.Hang());
        using var generator = inner.AsBuilder().UseTimeout(o => o.Timeout = TimeSpan.FromSeconds(10), time).Build();

        var call = generator.GenerateAsync(["a"], cancellationToken: Ct);
        time.Advance(TimeSpan.FromSeconds(9));
        Assert.False(call.IsCompleted);
        time.Advance(TimeSpan.FromSeconds(1));

        var error = await Assert.ThrowsAsync<EmbeddingTransientException>(() => call);
        Assert.True(error.IsTransient);
        Assert.Contains("00:00:10", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GenerateAsync_CallerCancels_ThrowsOperationCanceledNotTransient()
    {
        var time = new FakeTimeProvider();
        var inner = new ScriptedEmbeddingGenerator(ScriptedEmbeddingGenerator.Hang());
        using var generator = inner.AsBuilder().UseTimeout(o => o.Timeout = TimeSpan.FromSeconds(10), time).Build();
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(Ct);

        var call = generator.GenerateAsync(["a"], cancellationToken: cancel.Token);
        await cancel.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => call);
    }

    [Fact]
    public async Task UseResilience_FirstAttemptTimesOut_RetriedAndSucceeds()
    {
        var time = new FakeTimeProvider();
        var inner = new ScriptedEmbeddingGenerator(ScriptedEmbeddingGenerator.Hang(), ScriptedEmbeddingGenerator.Succeed());
        using var generator = inner.AsBuilder().UseResilience(o =>
        {
            o.AttemptTimeout.Timeout = TimeSpan.FromSeconds(5);
            o.Retry.BaseDelay = TimeSpan.FromSeconds(1);
            o.Retry.UseJitter = false;
        }, time).Build();

        var call = generator.GenerateAsync(["a"], cancellationToken: Ct);
        time.Advance(TimeSpan.FromSeconds(5));
        await Until.TrueAsync(() =>
        {
            time.Advance(TimeSpan.FromMilliseconds(250));
            return inner.Calls == 2;
        });

        var result = await call;
        Assert.Single(result);
    }

    [Fact]
    public async Task UseResilience_EveryAttemptHangs_TotalTimeoutEndsTheCall()
    {
        var time = new FakeTimeProvider();
        var inner = new ScriptedEmbeddingGenerator(ScriptedEmbeddingGenerator.Hang());
        using var generator = inner.AsBuilder().UseResilience(o =>
        {
            o.TotalTimeout = TimeSpan.FromSeconds(30);
            o.AttemptTimeout.Timeout = Timeout.InfiniteTimeSpan;
        }, time).Build();

        var call = generator.GenerateAsync(["a"], cancellationToken: Ct);
        time.Advance(TimeSpan.FromSeconds(30));

        await Assert.ThrowsAsync<EmbeddingTransientException>(() => call);
        Assert.Equal(1, inner.Calls);
    }

    [Fact]
    public void UseTimeout_ZeroTimeout_ThrowsWhenAdded()
    {
        var builder = new ScriptedEmbeddingGenerator(ScriptedEmbeddingGenerator.Succeed()).AsBuilder();

        Assert.Throws<EmbeddingConfigurationException>(() => builder.UseTimeout(o => o.Timeout = TimeSpan.Zero));
    }
}
