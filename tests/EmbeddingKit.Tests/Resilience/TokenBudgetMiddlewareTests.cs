using EmbeddingKit.Resilience;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Time.Testing;

namespace EmbeddingKit.Tests.Resilience;

/// <summary>The token budget on a <see cref="FakeTimeProvider"/>: 600 tokens per minute refill at 10 per second.</summary>
public sealed class TokenBudgetMiddlewareTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static IEmbeddingGenerator<string, Embedding<float>> Build(ScriptedEmbeddingGenerator inner, FakeTimeProvider time) =>
        inner.AsBuilder().UseTokenBudget(text => text.Length, o => o.TokensPerMinute = 600, time).Build();

    [Fact]
    public async Task GenerateAsync_BudgetSpent_WaitsUntilItRefills()
    {
        var time = new FakeTimeProvider();
        var inner = new ScriptedEmbeddingGenerator(ScriptedEmbeddingGenerator.Succeed());
        using var generator = Build(inner, time);
        var three = new string('x', 300);

        await generator.GenerateAsync([three], cancellationToken: Ct);
        await generator.GenerateAsync([three], cancellationToken: Ct);
        var third = generator.GenerateAsync([three], cancellationToken: Ct);
        time.Advance(TimeSpan.FromSeconds(29));
        Assert.Equal(2, inner.Calls);
        Assert.False(third.IsCompleted);

        time.Advance(TimeSpan.FromSeconds(1));
        await third;
        Assert.Equal(3, inner.Calls);
    }

    [Fact]
    public async Task GenerateAsync_WaitingCallers_ServedInTheOrderTheyCame()
    {
        var time = new FakeTimeProvider();
        var inner = new ScriptedEmbeddingGenerator(ScriptedEmbeddingGenerator.Succeed());
        using var generator = Build(inner, time);

        await generator.GenerateAsync([new string('a', 600)], cancellationToken: Ct);
        var second = generator.GenerateAsync([new string('b', 100)], cancellationToken: Ct);
        var third = generator.GenerateAsync([new string('c', 100)], cancellationToken: Ct);
        time.Advance(TimeSpan.FromSeconds(10));
        await second;
        Assert.False(third.IsCompleted);
        time.Advance(TimeSpan.FromSeconds(10));
        await third;

        Assert.Equal(['a', 'b', 'c'], inner.Inputs.Select(i => i[0][0]));
    }

    [Fact]
    public async Task GenerateAsync_CallLargerThanTheWholeBudget_StillGoesAfterTheDebtIsRepaid()
    {
        var time = new FakeTimeProvider();
        var inner = new ScriptedEmbeddingGenerator(ScriptedEmbeddingGenerator.Succeed());
        using var generator = Build(inner, time);

        var call = generator.GenerateAsync([new string('x', 900)], cancellationToken: Ct);
        time.Advance(TimeSpan.FromSeconds(29));
        Assert.False(call.IsCompleted);
        time.Advance(TimeSpan.FromSeconds(1));

        await call;
        Assert.Equal(1, inner.Calls);
    }

    [Fact]
    public async Task GenerateAsync_ResponseReportsFewerTokens_TheDifferenceIsGivenBack()
    {
        var time = new FakeTimeProvider();
        var inner = new ScriptedEmbeddingGenerator(ScriptedEmbeddingGenerator.Succeed(usage: 100));
        using var generator = Build(inner, time);

        await generator.GenerateAsync([new string('x', 500)], cancellationToken: Ct);
        var next = generator.GenerateAsync([new string('y', 500)], cancellationToken: Ct);

        // Estimated 500 but used 100: 500 tokens are left, the next call of 500 goes at once.
        await next;
        Assert.Equal(2, inner.Calls);
    }

    [Fact]
    public async Task GenerateAsync_CallerCancelsWhileWaiting_ItsReservationIsGivenBack()
    {
        var time = new FakeTimeProvider();
        var inner = new ScriptedEmbeddingGenerator(ScriptedEmbeddingGenerator.Succeed());
        using var generator = Build(inner, time);
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(Ct);

        await generator.GenerateAsync([new string('a', 600)], cancellationToken: Ct);
        var cancelled = generator.GenerateAsync([new string('b', 600)], cancellationToken: cancel.Token);
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled);

        // Without the refund this call would wait 120 s; with it, 60 s.
        var next = generator.GenerateAsync([new string('c', 600)], cancellationToken: Ct);
        time.Advance(TimeSpan.FromSeconds(60));
        await next;
        Assert.Equal(2, inner.Calls);
    }

    [Fact]
    public void UseTokenBudget_ZeroTokens_ThrowsWhenAdded()
    {
        var builder = new ScriptedEmbeddingGenerator(ScriptedEmbeddingGenerator.Succeed()).AsBuilder();

        Assert.Throws<EmbeddingConfigurationException>(() => builder.UseTokenBudget(o => o.TokensPerMinute = 0));
    }
}
