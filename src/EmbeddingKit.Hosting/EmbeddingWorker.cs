using System.Diagnostics.Metrics;
using EmbeddingKit.Diagnostics;
using EmbeddingKit.Tasks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Polly;
using Polly.Retry;

namespace EmbeddingKit.Hosting;

/// <summary>
/// The hosted worker: <see cref="EmbeddingWorkerOptions.Concurrency"/> loops that claim, process and finish batches
/// through <see cref="EmbeddingTaskDrain"/>. Idle loops wait for an enqueue signal (LISTEN/NOTIFY) or the poll interval;
/// failing iterations back off; stopping finishes or releases what was claimed.
/// </summary>
/// <remarks>
/// <para>With <see cref="EmbeddingWorkerOptions.StopWhenIdle"/>, the worker ends (and, when it runs in a host, stops the
/// host's application) once its models have no outstanding task left, waiting out retry backoffs and the leases of
/// crashed workers; outstanding tasks of a paused model do not keep it running.</para>
/// <para>Progress (tasks claimed, completed, failed, dead, released, and the outstanding work) is raised through
/// <see cref="ProgressChanged"/> and readable from <see cref="Progress"/>.</para>
/// </remarks>
public sealed partial class EmbeddingWorker : BackgroundService
{
    private static long s_outstanding = -1;
    private readonly IEmbeddingTaskQueue _queue;
    private readonly IEmbeddingTaskHandler _handler;
    private readonly IEmbeddingTaskSignal? _signal;
    private readonly IEmbeddingQueueStatistics? _statistics;
    private readonly IHostApplicationLifetime? _lifetime;
    private readonly HashSet<string> _models;
    private readonly EmbeddingWorkerOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly Lock _statsLock = new();
    private readonly string _workerId;
    private long _claimed;
    private long _completed;
    private long _failed;
    private long _dead;
    private long _released;
    private long _leaseLost;
    private long _iterationErrors;
    private long _outstanding = -1;
    private long _statsReads;
    private long _statsPublished;
    private int _stoppedWhenIdle;

    static EmbeddingWorker()
    {
        EmbeddingKitDiagnostics.Meter.CreateObservableGauge(
            "embeddingkit.queue.outstanding",
            () => Interlocked.Read(ref s_outstanding) is var value and >= 0 ? [new Measurement<long>(value)] : Array.Empty<Measurement<long>>(),
            "{task}",
            "Outstanding embedding tasks of this worker's models.");
    }

    /// <summary>Creates the worker.</summary>
    /// <param name="queue">The queue it claims from.</param>
    /// <param name="handler">Processes claimed tasks (the runtime).</param>
    /// <param name="options">The worker's options.</param>
    /// <param name="signal">Wakes idle loops when tasks are enqueued; without it they poll.</param>
    /// <param name="logger">The logger.</param>
    /// <param name="timeProvider">The clock of backoffs and polls.</param>
    /// <param name="statistics">Reads the outstanding work (for progress, the outstanding gauge and
    /// <see cref="EmbeddingWorkerOptions.StopWhenIdle"/>); without it, the queue's own when it offers them.</param>
    /// <param name="lifetime">The host's lifetime, stopped when the worker stops because it is idle.</param>
    public EmbeddingWorker(
        IEmbeddingTaskQueue queue,
        IEmbeddingTaskHandler handler,
        IOptions<EmbeddingWorkerOptions> options,
        IEmbeddingTaskSignal? signal = null,
        ILogger<EmbeddingWorker>? logger = null,
        TimeProvider? timeProvider = null,
        IEmbeddingQueueStatistics? statistics = null,
        IHostApplicationLifetime? lifetime = null)
    {
        ArgumentNullException.ThrowIfNull(queue);
        ArgumentNullException.ThrowIfNull(handler);
        ArgumentNullException.ThrowIfNull(options);
        _queue = queue;
        _handler = handler;
        _signal = signal;
        _options = options.Value;
        _options.Validate();
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _time = timeProvider ?? TimeProvider.System;
        _workerId = _options.WorkerId ?? $"{Environment.MachineName}:{Environment.ProcessId}";
        _statistics = statistics ?? queue as IEmbeddingQueueStatistics;
        _lifetime = lifetime;
        _models = handler.Models.ToHashSet(StringComparer.Ordinal);
        if (_options.StopWhenIdle && _statistics is null)
        {
            throw new ArgumentException("StopWhenIdle needs the queue's statistics (IEmbeddingQueueStatistics) to know when no work is left.", nameof(statistics));
        }
    }

    /// <summary>Gets the tasks this worker completed so far.</summary>
    public long Completed => Interlocked.Read(ref _completed);

    /// <summary>Gets the task failures this worker recorded so far.</summary>
    public long Failed => Interlocked.Read(ref _failed);

    /// <summary>Gets what the worker did so far, and the outstanding work of its models as last read.</summary>
    public EmbeddingWorkerProgress Progress => new()
    {
        Claimed = Interlocked.Read(ref _claimed),
        Completed = Interlocked.Read(ref _completed),
        Failed = Interlocked.Read(ref _failed),
        Dead = Interlocked.Read(ref _dead),
        Released = Interlocked.Read(ref _released),
        LeaseLost = Interlocked.Read(ref _leaseLost),
        IterationErrors = Interlocked.Read(ref _iterationErrors),
        Outstanding = Interlocked.Read(ref _outstanding),
        StoppedWhenIdle = Volatile.Read(ref _stoppedWhenIdle) != 0,
    };

    /// <summary>Raised after every iteration that claimed tasks (for progress displays).</summary>
    public event EventHandler<DrainResult>? BatchFinished;

    /// <summary>Raised, with <see cref="Progress"/>, after every iteration that claimed tasks or failed, after every
    /// read of the outstanding work, and once when the worker stops because it is idle. Handlers run on the worker's
    /// loops: keep them short, and do not throw.</summary>
    public event EventHandler<EmbeddingWorkerProgress>? ProgressChanged;

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var models = string.Join(", ", _handler.Models);
        LogStarting(_logger, _workerId, _options.Concurrency, _options.BatchSize, models);

        // Stopping the host, or finding no work left (StopWhenIdle), ends every loop.
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        var loops = Enumerable.Range(0, _options.Concurrency).Select(i => Task.Run(() => LoopAsync(i, stop), CancellationToken.None)).ToList();
        if (_options.StatsInterval > TimeSpan.Zero && _statistics is not null)
        {
            loops.Add(Task.Run(() => StatsLoopAsync(_statistics, stop.Token), CancellationToken.None));
        }

        await Task.WhenAll(loops).ConfigureAwait(false);
        var completed = Interlocked.Read(ref _completed);
        var failed = Interlocked.Read(ref _failed);
        LogStopped(_logger, _workerId, completed, failed);
        if (Volatile.Read(ref _stoppedWhenIdle) != 0)
        {
            ProgressChanged?.Invoke(this, Progress);
            _lifetime?.StopApplication();
        }
    }

    private async Task LoopAsync(int index, CancellationTokenSource stop)
    {
        var stoppingToken = stop.Token;
        var workerId = $"{_workerId}/{index}";
        var backoff = CreateBackoff(workerId, stoppingToken);
        while (!stoppingToken.IsCancellationRequested)
        {
            // Iterations that fail back off; the execution ends with one that did not (the backoff starts over then).
            DrainResult result;
            try
            {
                result = await backoff.ExecuteAsync(static (state, token) => state.Self.IterateAsync(state.WorkerId, token), (Self: this, WorkerId: workerId), stoppingToken)
                    .ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }

            if (result.Claimed == 0)
            {
                if (_options.StopWhenIdle && await IsIdleAsync(workerId, stoppingToken).ConfigureAwait(false))
                {
                    if (Interlocked.Exchange(ref _stoppedWhenIdle, 1) == 0)
                    {
                        LogIdle(_logger, _workerId);
                    }

                    await stop.CancelAsync().ConfigureAwait(false);
                    return;
                }

                await WaitForWorkAsync(stoppingToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>The backoff of a loop, a Polly retry on the worker's clock: after an iteration that threw (database
    /// unreachable or similar: nothing claimed is lost, leases expire) or whose tasks all failed (the provider is likely
    /// down or limiting: slow down instead of spinning), wait <see cref="EmbeddingWorkerOptions.FailureBackoff"/>, doubled
    /// per failing iteration in a row up to <see cref="EmbeddingWorkerOptions.MaxFailureBackoff"/>, without jitter.</summary>
    private ResiliencePipeline<DrainResult> CreateBackoff(string workerId, CancellationToken stoppingToken) =>
        new ResiliencePipelineBuilder<DrainResult> { TimeProvider = _time }
            .AddRetry(new RetryStrategyOptions<DrainResult>
            {
                ShouldHandle = args => ValueTask.FromResult(args.Outcome.Exception is { } e
                    ? !(e is OperationCanceledException && stoppingToken.IsCancellationRequested)
                    : AllFailed(args.Outcome.Result!)),
                MaxRetryAttempts = int.MaxValue,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = false,
                Delay = _options.FailureBackoff,
                MaxDelay = _options.MaxFailureBackoff,
                OnRetry = args =>
                {
                    if (args.Outcome.Exception is { } error)
                    {
                        Interlocked.Increment(ref _iterationErrors);
                        LogIterationFailed(_logger, workerId, args.RetryDelay.TotalSeconds, error);
                        ProgressChanged?.Invoke(this, Progress);
                    }

                    return default;
                },
            })
            .Build();

    private static bool AllFailed(DrainResult result) =>
        result.Completion.Completed.Count + result.Completion.Rerun.Count == 0 && result.Failure.Retried.Count + result.Failure.Dead.Count > 0;

    /// <summary>Claims, processes and finishes one batch, and counts what happened.</summary>
    private async ValueTask<DrainResult> IterateAsync(string workerId, CancellationToken stoppingToken)
    {
        var result = await EmbeddingTaskDrain.RunOnceAsync(_queue, _handler, _options.BatchSize, workerId, _options.LeaseDuration, _time, stoppingToken).ConfigureAwait(false);
        if (result.Claimed == 0)
        {
            return result;
        }

        var failed = result.Failure.Retried.Count + result.Failure.Dead.Count;
        var leaseLost = result.Completion.LeaseLost.Count + result.Failure.LeaseLost.Count;
        Interlocked.Add(ref _claimed, result.Claimed);
        Interlocked.Add(ref _completed, result.Completion.Completed.Count);
        Interlocked.Add(ref _failed, failed);
        Interlocked.Add(ref _dead, result.Failure.Dead.Count);
        Interlocked.Add(ref _released, result.Released);
        Interlocked.Add(ref _leaseLost, leaseLost);
        BatchFinished?.Invoke(this, result);
        ProgressChanged?.Invoke(this, Progress);
        if (leaseLost > 0)
        {
            LogLeaseLost(_logger, workerId, leaseLost);
        }

        return result;
    }

    private async Task WaitForWorkAsync(CancellationToken stoppingToken)
    {
        try
        {
            if (_signal is not null)
            {
                await _signal.WaitAsync(_options.PollInterval, stoppingToken).ConfigureAwait(false);
            }
            else
            {
                await Task.Delay(_options.PollInterval, _time, stoppingToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping.
        }
    }

    /// <summary>Whether the worker's models have no outstanding task, or only tasks of paused models. A failing read
    /// counts as not idle (the loop waits and looks again).</summary>
    private async Task<bool> IsIdleAsync(string workerId, CancellationToken stoppingToken)
    {
        try
        {
            var stats = await ReadOutstandingAsync(_statistics!, stoppingToken).ConfigureAwait(false);
            var now = _time.GetUtcNow();
            return stats.All(s => s.Outstanding == 0 || s.PausedUntil > now);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            return false;
        }
        catch (Exception e)
        {
            Interlocked.Increment(ref _iterationErrors);
            LogIterationFailed(_logger, workerId, _options.PollInterval.TotalSeconds, e);
            return false;
        }
    }

    /// <summary>Reads the queue statistics of the worker's models and publishes their outstanding count.</summary>
    private async Task<IReadOnlyList<QueueStats>> ReadOutstandingAsync(IEmbeddingQueueStatistics statistics, CancellationToken stoppingToken)
    {
        // The stats loop and the idle check read concurrently: a read that started before another must not publish after
        // it (an older count would stand as the last one, e.g. tasks outstanding after the worker stopped as idle).
        var read = Interlocked.Increment(ref _statsReads);
        var stats = (await statistics.GetStatsAsync(stoppingToken).ConfigureAwait(false)).Where(s => _models.Contains(s.Model)).ToList();
        var outstanding = stats.Sum(s => s.Outstanding);
        lock (_statsLock)
        {
            if (read < _statsPublished)
            {
                return stats;
            }

            _statsPublished = read;
            Interlocked.Exchange(ref _outstanding, outstanding);
            Interlocked.Exchange(ref s_outstanding, outstanding);
        }

        ProgressChanged?.Invoke(this, Progress);
        return stats;
    }

    private async Task StatsLoopAsync(IEmbeddingQueueStatistics statistics, CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await ReadOutstandingAsync(statistics, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                // Stopping (or stopped as idle) while a read was in flight.
                return;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                LogStatsFailed(_logger, e.Message);
            }

            await DelayAsync(_options.StatsInterval, stoppingToken).ConfigureAwait(false);
        }
    }

    private async Task DelayAsync(TimeSpan delay, CancellationToken stoppingToken)
    {
        try
        {
            await Task.Delay(delay, _time, stoppingToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping.
        }
    }

    [LoggerMessage(EventId = 2001, Level = LogLevel.Information, Message = "Embedding worker {WorkerId} starting {Concurrency} loop(s), batch {BatchSize}, models: {Models}")]
    private static partial void LogStarting(ILogger logger, string workerId, int concurrency, int batchSize, string models);

    [LoggerMessage(EventId = 2002, Level = LogLevel.Information, Message = "Embedding worker {WorkerId} stopped after {Completed} completed and {Failed} failed tasks")]
    private static partial void LogStopped(ILogger logger, string workerId, long completed, long failed);

    [LoggerMessage(EventId = 2003, Level = LogLevel.Warning, Message = "Embedding worker {WorkerId} iteration failed; retrying in {DelaySeconds} s")]
    private static partial void LogIterationFailed(ILogger logger, string workerId, double delaySeconds, Exception exception);

    [LoggerMessage(EventId = 2004, Level = LogLevel.Warning, Message = "Embedding worker {WorkerId} lost the lease of {Count} task(s); another worker owns them now")]
    private static partial void LogLeaseLost(ILogger logger, string workerId, int count);

    [LoggerMessage(EventId = 2006, Level = LogLevel.Information, Message = "Embedding worker {WorkerId} found no outstanding work for its models and stops (StopWhenIdle)")]
    private static partial void LogIdle(ILogger logger, string workerId);

    [LoggerMessage(EventId = 2005, Level = LogLevel.Debug, Message = "Reading queue statistics failed: {Error}")]
    private static partial void LogStatsFailed(ILogger logger, string error);
}
