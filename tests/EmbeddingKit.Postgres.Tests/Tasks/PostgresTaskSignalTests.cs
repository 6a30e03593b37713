using EmbeddingKit.Postgres.Tasks;
using EmbeddingKit.Tasks;
using EmbeddingKit.TestInfrastructure.Postgres;
using EmbeddingKit.TestInfrastructure.Time;

namespace EmbeddingKit.Postgres.Tests.Tasks;

/// <summary>The enqueue signal on a real PostgreSQL and a fake clock: a wait ends on NOTIFY, or when the clock passes its
/// timeout, never on real time.</summary>
public sealed class PostgresTaskSignalTests(PostgresServer server) : SchemaTest(server)
{
    private static readonly TimeSpan WaitLimit = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task WaitAsync_NothingEnqueued_ReturnsFalseOnceTheClockPassesTheTimeout()
    {
        var time = new TimerCountingTimeProvider();
        await using var signal = new PostgresTaskSignal(DataSource, Schema, null, time);
        await WaitUntilListeningAsync(signal);

        var waiting = signal.WaitAsync(TimeSpan.FromSeconds(5), Ct).AsTask();
        Assert.True(await time.WaitForTimersAsync(2, WaitLimit, Ct), "the wait's timeout started");
        time.Advance(TimeSpan.FromSeconds(4.9));
        var beforeTimeout = waiting.IsCompleted;
        time.Advance(TimeSpan.FromSeconds(0.1));

        Assert.False(await waiting.WaitAsync(WaitLimit, Ct));
        Assert.False(beforeTimeout);
    }

    [Fact]
    public async Task WaitAsync_TaskEnqueued_ReturnsTrueWithoutTheClockMoving()
    {
        var time = new TimerCountingTimeProvider();
        await using var signal = new PostgresTaskSignal(DataSource, Schema, null, time);
        await WaitUntilListeningAsync(signal);

        var waiting = signal.WaitAsync(TimeSpan.FromSeconds(5), Ct).AsTask();
        await new PostgresEmbeddingTaskQueue(DataSource, Schema).EnqueueAsync([new EnqueueRequest("doc", "1", "model-a")], Ct);

        Assert.True(await waiting.WaitAsync(WaitLimit, Ct));
    }

    // The first wait starts the listener, which wakes the waiters once it listens (work enqueued before it may be waiting).
    private static async Task WaitUntilListeningAsync(PostgresTaskSignal signal) =>
        Assert.True(await signal.WaitAsync(TimeSpan.FromSeconds(5), Ct).AsTask().WaitAsync(WaitLimit, Ct), "listening");
}
