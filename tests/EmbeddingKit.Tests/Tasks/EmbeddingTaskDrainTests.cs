using System.Threading.Channels;
using EmbeddingKit.Tasks;
using Microsoft.Extensions.Time.Testing;

namespace EmbeddingKit.Tests.Tasks;

/// <summary>The heartbeat of <see cref="EmbeddingTaskDrain"/>: time is a <see cref="FakeTimeProvider"/> advanced by the
/// test, the queue and the handler are hand-written fakes.</summary>
public sealed class EmbeddingTaskDrainTests
{
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan Tick = Lease / 3;

    // Only a guard against a hang when the behaviour is broken; nothing waits for it when it works.
    private static readonly TimeSpan Guard = TimeSpan.FromSeconds(20);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task RunOnceAsync_OneHeartbeatFails_LaterHeartbeatsStillExtendTheLeases()
    {
        var queue = new FakeQueue(Tasks(2)) { Extend = (call, asked) => call == 1 ? throw new TimeoutException("network blip") : [.. asked.Select(t => t.Id)] };

        var (first, second, result) = await RunWithTwoHeartbeatsAsync(queue);

        Assert.Equal([1L, 2L], first);
        Assert.Equal([1L, 2L], second);
        Assert.Equal([1L, 2L], result.Completion.Completed);
        Assert.Empty(result.Completion.LeaseLost);
    }

    [Fact]
    public async Task RunOnceAsync_HeartbeatReportsOneLeaseGone_StopsExtendingAndNeverCompletesIt()
    {
        var queue = new FakeQueue(Tasks(2)) { Extend = (_, asked) => [.. asked.Where(t => t.Id == 1).Select(t => t.Id)] };

        var (first, second, result) = await RunWithTwoHeartbeatsAsync(queue);

        Assert.Equal([1L, 2L], first);
        Assert.Equal([1L], second);
        Assert.Equal([1L], queue.Completed.Select(t => t.Id));
        Assert.Equal([1L], result.Completion.Completed);
        Assert.Equal([2L], result.Completion.LeaseLost);
    }

    [Fact]
    public async Task RunOnceAsync_HeartbeatReportsEveryLeaseGone_CancelsTheHandlerAndRecordsNothing()
    {
        var queue = new FakeQueue(Tasks(2)) { Extend = (_, _) => [] };
        var handler = new GatedHandler();
        var time = new FakeTimeProvider();
        var run = EmbeddingTaskDrain.RunOnceAsync(queue, handler, 10, "w", Lease, time, Ct);
        await handler.Started.Task.WaitAsync(Guard, Ct);

        time.Advance(Tick);
        var result = await run.WaitAsync(Guard, Ct);

        Assert.True(handler.Cancelled);
        Assert.Empty(queue.Completed);
        Assert.Empty(queue.Failed);
        Assert.Equal(0, queue.ReleasedCount);
        Assert.Equal([1L, 2L], result.Completion.LeaseLost);
    }

    /// <summary>Runs one drain whose handler waits while two heartbeat periods pass; returns the ids each heartbeat
    /// asked to extend and the drain's result.</summary>
    private static async Task<(long[] First, long[] Second, DrainResult Result)> RunWithTwoHeartbeatsAsync(FakeQueue queue)
    {
        var handler = new GatedHandler();
        var time = new FakeTimeProvider();
        var run = EmbeddingTaskDrain.RunOnceAsync(queue, handler, 10, "w", Lease, time, Ct);
        await handler.Started.Task.WaitAsync(Guard, Ct);

        time.Advance(Tick);
        var first = await queue.ExtendCalls.Reader.ReadAsync(Ct).AsTask().WaitAsync(Guard, Ct);
        time.Advance(Tick);
        var second = await queue.ExtendCalls.Reader.ReadAsync(Ct).AsTask().WaitAsync(Guard, Ct);
        handler.Release.SetResult();
        return (first, second, await run.WaitAsync(Guard, Ct));
    }

    private static List<EmbeddingTask> Tasks(int count) =>
        [.. Enumerable.Range(1, count).Select(i => new EmbeddingTask { Id = i, EntityType = "doc", EntityId = $"d{i}", Model = "m", Generation = i, LeaseToken = Guid.NewGuid() })];

    /// <summary>Completes every task once released; records whether its token was cancelled first.</summary>
    private sealed class GatedHandler : IEmbeddingTaskHandler
    {
        public TaskCompletionSource Started { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public bool Cancelled { get; private set; }

        public IReadOnlyCollection<string> Models { get; } = ["m"];

        public async ValueTask<TaskBatchOutcome> HandleAsync(IReadOnlyList<EmbeddingTask> tasks, CancellationToken cancellationToken = default)
        {
            Started.SetResult();
            try
            {
                await Release.Task.WaitAsync(cancellationToken);
            }
            catch (OperationCanceledException)
            {
                Cancelled = true;
                throw;
            }

            return new TaskBatchOutcome(tasks, []);
        }
    }

    private sealed class FakeQueue(List<EmbeddingTask> claimable) : IEmbeddingTaskQueue
    {
        private int _extendCalls;

        public Func<int, IReadOnlyList<EmbeddingTask>, IReadOnlyList<long>> Extend { get; init; } = (_, asked) => [.. asked.Select(t => t.Id)];

        public Channel<long[]> ExtendCalls { get; } = Channel.CreateUnbounded<long[]>();

        public List<EmbeddingTask> Completed { get; } = [];

        public List<TaskFailure> Failed { get; } = [];

        public int ReleasedCount { get; private set; }

        public ValueTask<int> EnqueueAsync(IReadOnlyList<EnqueueRequest> requests, CancellationToken cancellationToken = default) =>
            throw new NotSupportedException();

        public ValueTask<IReadOnlyList<EmbeddingTask>> FetchReadyAsync(FetchRequest request, CancellationToken cancellationToken = default) =>
            ValueTask.FromResult<IReadOnlyList<EmbeddingTask>>(claimable);

        public ValueTask<IReadOnlyList<long>> ExtendLeaseAsync(IReadOnlyList<EmbeddingTask> tasks, TimeSpan leaseDuration, CancellationToken cancellationToken = default)
        {
            var call = Interlocked.Increment(ref _extendCalls);
            ExtendCalls.Writer.TryWrite([.. tasks.Select(t => t.Id)]);
            return ValueTask.FromResult(Extend(call, tasks));
        }

        public ValueTask<CompleteResult> CompleteAsync(IReadOnlyList<EmbeddingTask> tasks, CancellationToken cancellationToken = default)
        {
            Completed.AddRange(tasks);
            return ValueTask.FromResult(new CompleteResult([.. tasks.Select(t => t.Id)], [], []));
        }

        public ValueTask<FailResult> FailAsync(IReadOnlyList<TaskFailure> failures, CancellationToken cancellationToken = default)
        {
            Failed.AddRange(failures);
            return ValueTask.FromResult(new FailResult([.. failures.Select(f => f.Task.Id)], [], []));
        }

        public ValueTask<int> ReleaseAsync(IReadOnlyList<EmbeddingTask> tasks, CancellationToken cancellationToken = default)
        {
            ReleasedCount += tasks.Count;
            return ValueTask.FromResult(tasks.Count);
        }
    }
}
