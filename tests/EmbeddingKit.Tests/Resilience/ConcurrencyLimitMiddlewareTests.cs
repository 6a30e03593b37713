using EmbeddingKit.Resilience;
using Microsoft.Extensions.AI;

namespace EmbeddingKit.Tests.Resilience;

public sealed class ConcurrencyLimitMiddlewareTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task GenerateAsync_MoreCallersThanTheLimit_AtMostTheLimitInFlight()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var inner = new ScriptedEmbeddingGenerator(ScriptedEmbeddingGenerator.WaitFor(release.Task));
        using var generator = inner.AsBuilder().UseConcurrencyLimit(o => o.MaxConcurrentCalls = 2).Build();

        var calls = Enumerable.Range(0, 5).Select(i => generator.GenerateAsync([$"input {i}"], cancellationToken: Ct)).ToList();
        await Until.TrueAsync(() => inner.Calls == 2);
        Assert.Equal(2, inner.Calls);
        Assert.All(calls, c => Assert.False(c.IsCompleted));

        release.SetResult();
        await Task.WhenAll(calls);

        Assert.Equal(5, inner.Calls);
        Assert.Equal(2, inner.MaxInFlight);
    }

    [Fact]
    public async Task GenerateAsync_WaitingCallerCancels_LeavesTheOthersRunning()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var inner = new ScriptedEmbeddingGenerator(ScriptedEmbeddingGenerator.WaitFor(release.Task));
        using var generator = inner.AsBuilder().UseConcurrencyLimit(o => o.MaxConcurrentCalls = 1).Build();
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(Ct);

        var first = generator.GenerateAsync(["a"], cancellationToken: Ct);
        var waiting = generator.GenerateAsync(["b"], cancellationToken: cancel.Token);
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting);

        release.SetResult();
        await first;
        Assert.Equal(1, inner.Calls);
    }

    [Fact]
    public void UseConcurrencyLimit_ZeroLimit_ThrowsWhenAdded()
    {
        var builder = new ScriptedEmbeddingGenerator(ScriptedEmbeddingGenerator.Succeed()).AsBuilder();

        Assert.Throws<EmbeddingConfigurationException>(() => builder.UseConcurrencyLimit(o => o.MaxConcurrentCalls = 0));
    }
}
