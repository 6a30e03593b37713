using EmbeddingKit.Hosting;
using EmbeddingKit.Tasks;
using EmbeddingKit.TestInfrastructure.Time;
using Microsoft.Extensions.Options;

namespace EmbeddingKit.Hosting.Tests;

/// <summary>The worker's backoff after failing iterations, on a hand-written queue and a fake clock: the waits are
/// advanced, never slept, and read from when the queue was asked again.</summary>
public sealed class EmbeddingWorkerBackoffTests
{
    private const string Model = "model-a";
    private static readonly TimeSpan WaitLimit = TimeSpan.FromSeconds(30);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Worker_IterationsThrow_BacksOffDoublingToTheCapAndStartsOverAfterASuccess()
    {
        var time = new TimerCountingTimeProvider();
        var queue = new ScriptedQueue(time, [Step.Throw, Step.Throw, Step.Throw, Step.Throw, Step.Empty, Step.Throw], Step.Empty);
        var worker = CreateWorker(queue, time);

        await worker.StartAsync(Ct);
        // Each wait (a backoff, or the poll interval once idle) is one timer; advance past each once it exists.
        foreach (var (timers, wait) in new[] { (1, 1), (2, 2), (3, 4), (4, 4), (5, 60), (6, 1) })
        {
            Assert.True(await time.WaitForTimersAsync(timers, WaitLimit, Ct), $"wait {timers} started");
            time.Advance(TimeSpan.FromSeconds(wait));
        }

        Assert.True(await time.WaitForTimersAsync(7, WaitLimit, Ct), "idle again");
        await worker.StopAsync(Ct);

        // 1 s doubling to the 4 s cap; after the idle iteration (then the 60 s poll), 1 s again.
        Assert.Equal(new double[] { 0, 1, 3, 7, 11, 71, 72 }, queue.FetchedAt());
        Assert.Equal(5, worker.Progress.IterationErrors);
        Assert.Equal(0, worker.Progress.Claimed);
    }

    [Fact]
    public async Task Worker_EveryTaskOfBatchesFails_BacksOffWithoutCountingIterationErrors()
    {
        var time = new TimerCountingTimeProvider();
        var queue = new ScriptedQueue(time, [Step.ClaimOne, Step.ClaimOne, Step.ClaimOne], Step.Empty);
        var worker = CreateWorker(queue, time);

        await worker.StartAsync(Ct);
        // A claimed batch also starts its lease heartbeat (a periodic timer): two timers per failing batch.
        foreach (var (timers, wait) in new[] { (2, 1), (4, 2), (6, 4) })
        {
            Assert.True(await time.WaitForTimersAsync(timers, WaitLimit, Ct), $"backoff after batch {timers / 2} started");
            time.Advance(TimeSpan.FromSeconds(wait));
        }

        Assert.True(await time.WaitForTimersAsync(7, WaitLimit, Ct), "idle");
        await worker.StopAsync(Ct);

        Assert.Equal(new double[] { 0, 1, 3, 7 }, queue.FetchedAt());
        Assert.Equal(3, worker.Progress.Claimed);
        Assert.Equal(3, worker.Progress.Failed);
        Assert.Equal(0, worker.Progress.IterationErrors);
    }

    [Fact]
    public async Task Worker_StatsReadFinishingAfterTheIdleCheck_DoesNotLeaveAStaleOutstandingCount()
    {
        // The stats loop reads first and gets its answer (20 outstanding) only after the idle check's later read (0) has
        // returned and the worker has stopped as idle: that older count must not become the last one published.
        var statistics = new RacingStatistics();

        var worker = await RunUntilIdleAsync(statistics, statistics.FirstReadStarted);

        Assert.True(worker.Progress.StoppedWhenIdle);
        Assert.Equal(2, statistics.Reads);
        Assert.Equal(0, worker.Progress.Outstanding);
    }

    [Fact]
    public async Task Worker_StatsReadInFlightWhenItStopsAsIdle_EndsWithoutAnError()
    {
        // The stats loop's read is still running (it honours cancellation) when the idle check finds no work: stopping
        // as idle cancels that read, which must end the worker normally, not with an OperationCanceledException (the
        // CLI's `work --until-idle` exited 1 with it).
        var statistics = new HangingStatistics();

        var worker = await RunUntilIdleAsync(statistics, statistics.FirstReadStarted);

        Assert.True(worker.Progress.StoppedWhenIdle);
        Assert.True(statistics.FirstReadCancelled);
    }

    [Fact]
    public void Validate_MaxFailureBackoffOverADay_Throws()
    {
        var options = new EmbeddingWorkerOptions { MaxFailureBackoff = TimeSpan.FromDays(1) + TimeSpan.FromSeconds(1) };

        var error = Assert.Throws<ArgumentOutOfRangeException>(options.Validate);

        Assert.Equal(nameof(EmbeddingWorkerOptions.MaxFailureBackoff), error.ParamName);
    }

    // A worker with one loop that stops when idle, over an empty queue whose first fetch waits for beforeFetch (so that
    // the stats loop's read comes first); returns it once it has ended.
    private static async Task<EmbeddingWorker> RunUntilIdleAsync(IEmbeddingQueueStatistics statistics, Task beforeFetch)
    {
        var worker = new EmbeddingWorker(
            new ScriptedQueue(TimeProvider.System, [], Step.Empty) { BeforeFetch = beforeFetch },
            new FailingHandler(),
            Options.Create(new EmbeddingWorkerOptions { Concurrency = 1, BatchSize = 1, StopWhenIdle = true, PollInterval = TimeSpan.FromMilliseconds(50), StatsInterval = TimeSpan.FromSeconds(1) }),
            statistics: statistics);
        await worker.StartAsync(Ct);
        await worker.ExecuteTask!.WaitAsync(WaitLimit, Ct);
        return worker;
    }

    private static EmbeddingWorker CreateWorker(ScriptedQueue queue, TimeProvider time) => new(
        queue,
        new FailingHandler(),
        Options.Create(new EmbeddingWorkerOptions
        {
            Concurrency = 1,
            BatchSize = 1,
            PollInterval = TimeSpan.FromSeconds(60),
            FailureBackoff = TimeSpan.FromSeconds(1),
            MaxFailureBackoff = TimeSpan.FromSeconds(4),
            StatsInterval = TimeSpan.Zero,
        }),
        timeProvider: time);

    private enum Step
    {
        Empty,
        Throw,
        ClaimOne,
    }

    /// <summary>Fails every task it is given, as a provider that is down would.</summary>
    private sealed class FailingHandler : IEmbeddingTaskHandler
    {
        public IReadOnlyCollection<string> Models { get; } = [Model];

        public ValueTask<TaskBatchOutcome> HandleAsync(IReadOnlyList<EmbeddingTask> tasks, CancellationToken cancellationToken = default) =>
            ValueTask.FromResult(new TaskBatchOutcome([], [.. tasks.Select(t => new TaskFailure(t, TaskFailureKind.Retryable, "provider down"))]));
    }

    /// <summary>Answers each fetch with the next step of a script (then the last one forever) and records when, on the
    /// fake clock, it was asked.</summary>
    private sealed class ScriptedQueue(TimeProvider time, Step[] script, Step then) : IEmbeddingTaskQueue
    {
        private readonly DateTimeOffset _start = time.GetUtcNow();
        private readonly List<double> _fetchedAt = [];
        private long _nextId;

        /// <summary>Gets a task each fetch waits for first (none by default).</summary>
        public Task BeforeFetch { get; init; } = Task.CompletedTask;

        public double[] FetchedAt()
        {
            lock (_fetchedAt)
            {
                return [.. _fetchedAt];
            }
        }

        public async ValueTask<IReadOnlyList<EmbeddingTask>> FetchReadyAsync(FetchRequest request, CancellationToken cancellationToken = default)
        {
            await BeforeFetch.WaitAsync(cancellationToken);
            int index;
            lock (_fetchedAt)
            {
                index = _fetchedAt.Count;
                _fetchedAt.Add((time.GetUtcNow() - _start).TotalSeconds);
            }

            return (index < script.Length ? script[index] : then) switch
            {
                Step.Throw => throw new InvalidOperationException("database down"),
                Step.ClaimOne =>
                [
                    new EmbeddingTask { Id = Interlocked.Increment(ref _nextId), EntityType = "doc", EntityId = "1", Model = Model, Generation = 1, LeaseToken = Guid.NewGuid() },
                ],
                _ => [],
            };
        }

        public ValueTask<FailResult> FailAsync(IReadOnlyList<TaskFailure> failures, CancellationToken cancellationToken = default) =>
            ValueTask.FromResult(new FailResult([.. failures.Select(f => f.Task.Id)], [], []));

        public ValueTask<int> ReleaseAsync(IReadOnlyList<EmbeddingTask> tasks, CancellationToken cancellationToken = default) => ValueTask.FromResult(tasks.Count);

        public ValueTask<int> EnqueueAsync(IReadOnlyList<EnqueueRequest> requests, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public ValueTask<IReadOnlyList<long>> ExtendLeaseAsync(IReadOnlyList<EmbeddingTask> tasks, TimeSpan leaseDuration, CancellationToken cancellationToken = default) =>
            throw new NotSupportedException();

        public ValueTask<CompleteResult> CompleteAsync(IReadOnlyList<EmbeddingTask> tasks, CancellationToken cancellationToken = default) => throw new NotSupportedException();
    }

    /// <summary>The first read waits until a later one has returned, then answers 20 outstanding; every later read
    /// answers 0 at once.</summary>
    private sealed class RacingStatistics : IEmbeddingQueueStatistics
    {
        private readonly TaskCompletionSource _firstStarted = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource _laterReturned = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _reads;

        public Task FirstReadStarted => _firstStarted.Task;

        public int Reads => Volatile.Read(ref _reads);

        public async ValueTask<IReadOnlyList<QueueStats>> GetStatsAsync(CancellationToken cancellationToken = default)
        {
            if (Interlocked.Increment(ref _reads) == 1)
            {
                _firstStarted.SetResult();
                await _laterReturned.Task;
                return [new QueueStats { EntityType = "doc", Model = Model, Ready = 20 }];
            }

            _laterReturned.TrySetResult();
            return [new QueueStats { EntityType = "doc", Model = Model }];
        }
    }

    /// <summary>The first read waits until it is cancelled; every later read answers 0 outstanding at once.</summary>
    private sealed class HangingStatistics : IEmbeddingQueueStatistics
    {
        private readonly TaskCompletionSource _firstStarted = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _reads;
        private volatile bool _firstReadCancelled;

        public Task FirstReadStarted => _firstStarted.Task;

        public bool FirstReadCancelled => _firstReadCancelled;

        public async ValueTask<IReadOnlyList<QueueStats>> GetStatsAsync(CancellationToken cancellationToken = default)
        {
            if (Interlocked.Increment(ref _reads) == 1)
            {
                _firstStarted.SetResult();
                try
                {
                    await Task.Delay(Timeout.Infinite, cancellationToken);
                }
                catch (OperationCanceledException)
                {
                    _firstReadCancelled = true;
                    throw;
                }
            }

            return [new QueueStats { EntityType = "doc", Model = Model }];
        }
    }
}
