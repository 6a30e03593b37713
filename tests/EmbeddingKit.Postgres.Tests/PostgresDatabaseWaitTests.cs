using EmbeddingKit.TestInfrastructure.Time;
using Microsoft.Extensions.Time.Testing;
using Npgsql;

namespace EmbeddingKit.Postgres.Tests;

/// <summary>The wait for an unreachable database (migrations on start, the CLI's <c>--wait-for-database</c>): a Polly
/// retry on a <see cref="FakeTimeProvider"/>, so nothing sleeps.</summary>
public sealed class PostgresDatabaseWaitTests
{
    private static readonly TimeSpan WaitLimit = TimeSpan.FromSeconds(30);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task ExecuteAsync_UnreachableThenReachable_RetriesAfterDoublingDelaysCappedAtTenSeconds()
    {
        var time = new TimerCountingTimeProvider();
        var delays = new List<TimeSpan>();
        var wait = PostgresDatabaseWait.Create(TimeSpan.FromMinutes(5), time, (_, delay) => { lock (delays) { delays.Add(delay); } });
        var calls = 0;

        var run = wait.ExecuteAsync(
            _ => Interlocked.Increment(ref calls) <= 7 ? throw new TimeoutException("connect timed out") : ValueTask.CompletedTask, Ct).AsTask();
        for (var retry = 1; retry <= 7; retry++)
        {
            Assert.True(await time.WaitForTimersAsync(retry, WaitLimit, Ct), $"retry {retry} scheduled");
            Assert.False(run.IsCompleted);
            time.Advance(Delays(delays)[retry - 1]);
        }

        await run;
        Assert.Equal(8, calls);
        Assert.Equal(new[] { 0.5, 1, 2, 4, 8, 10, 10 }, Delays(delays).Select(d => d.TotalSeconds));
    }

    [Fact]
    public async Task ExecuteAsync_StillUnreachableWhenTheNextTryWouldStartAfterTheBudget_ThrowsTheLastError()
    {
        var time = new TimerCountingTimeProvider();
        var delays = new List<TimeSpan>();
        var wait = PostgresDatabaseWait.Create(TimeSpan.FromSeconds(3), time, (_, delay) => { lock (delays) { delays.Add(delay); } });
        var calls = 0;

        var run = wait.ExecuteAsync(_ => throw new TimeoutException($"attempt {Interlocked.Increment(ref calls)}"), Ct).AsTask();
        Assert.True(await time.WaitForTimersAsync(1, WaitLimit, Ct), "first retry scheduled");
        time.Advance(TimeSpan.FromSeconds(0.5));
        Assert.True(await time.WaitForTimersAsync(2, WaitLimit, Ct), "second retry scheduled");
        time.Advance(TimeSpan.FromSeconds(1));

        // At 1.5 s the next wait (2 s) would end after the 3 s budget: the third error goes to the caller.
        var error = await Assert.ThrowsAsync<TimeoutException>(() => run);
        Assert.Equal("attempt 3", error.Message);
        Assert.Equal(3, calls);
        Assert.Equal(new[] { 0.5, 1 }, Delays(delays).Select(d => d.TotalSeconds));
    }

    [Fact]
    public async Task ExecuteAsync_RefusedConnection_IsRetried()
    {
        var time = new FakeTimeProvider();
        var retried = new TaskCompletionSource<Exception>(TaskCreationOptions.RunContinuationsAsynchronously);
        var wait = PostgresDatabaseWait.Create(TimeSpan.FromMinutes(5), time, (e, _) => retried.TrySetResult(e));
        await using var dataSource = NpgsqlDataSource.Create($"Host=127.0.0.1;Port={ClosedPort.Get()};Username=postgres;Timeout=5");
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Ct);

        var run = wait.ExecuteAsync(async token => { await using var connection = await dataSource.OpenConnectionAsync(token); }, stop.Token).AsTask();
        var error = await retried.Task.WaitAsync(TimeSpan.FromSeconds(30), Ct);
        await stop.CancelAsync();

        Assert.IsAssignableFrom<NpgsqlException>(error);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run);
    }

    [Theory]
    [InlineData("28P01")] // invalid password
    [InlineData("3D000")] // no such database
    public async Task ExecuteAsync_ServerRefusesForGood_ThrowsAtOnce(string sqlState)
    {
        var wait = PostgresDatabaseWait.Create(TimeSpan.FromMinutes(5), new FakeTimeProvider());
        var calls = 0;

        var error = await Assert.ThrowsAsync<PostgresException>(() => wait.ExecuteAsync(
            _ =>
            {
                calls++;
                throw new PostgresException("refused", "FATAL", "FATAL", sqlState);
            },
            Ct).AsTask());

        Assert.Equal(sqlState, error.SqlState);
        Assert.Equal(1, calls);
    }

    [Fact]
    public async Task ExecuteAsync_NoBudget_DoesNotRetry()
    {
        var wait = PostgresDatabaseWait.Create(TimeSpan.Zero, new FakeTimeProvider());
        var calls = 0;

        await Assert.ThrowsAsync<TimeoutException>(() => wait.ExecuteAsync(_ => { calls++; throw new TimeoutException(); }, Ct).AsTask());

        Assert.Equal(1, calls);
    }

    private static List<TimeSpan> Delays(List<TimeSpan> delays)
    {
        lock (delays)
        {
            return [.. delays];
        }
    }
}
