using System.Diagnostics.Metrics;
using EmbeddingKit.Diagnostics;
using EmbeddingKit.Tasks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace EmbeddingKit.Hosting;

/// <summary>
/// The hosted worker: <see cref="EmbeddingWorkerOptions.Concurrency"/> loops that claim, process and finish batches
/// through <see cref="EmbeddingTaskDrain"/>. Idle loops wait for an enqueue signal (LISTEN/NOTIFY) or the poll interval;
/// failing iterations back off; stopping finishes or releases what was claimed.
/// </summary>
public sealed partial class EmbeddingWorker : BackgroundService
{
    private static long s_outstanding = -1;
    private readonly IEmbeddingTaskQueue _queue;
    private readonly IEmbeddingTaskHandler _handler;
    private readonly IEmbeddingTaskSignal? _signal;
    private readonly IEmbeddingQueueStatistics? _statistics;
    private readonly EmbeddingWorkerOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly string _workerId;
    private long _completed;
    private long _failed;

    static EmbeddingWorker()
    {
        EmbeddingKitDiagnostics.Meter.CreateObservableGauge(
            "embeddingkit.queue.outstanding",
            () => Interlocked.Read(ref s_outstanding) is var value and >= 0 ? [new Measurement<long>(value)] : Array.Empty<Measurement<long>>(),
            "{task}",
            "Outstanding embedding tasks of this worker's models.");
    }

    /// <summary>Creates the worker.</summary>
    public EmbeddingWorker(
        IEmbeddingTaskQueue queue,
        IEmbeddingTaskHandler handler,
        IOptions<EmbeddingWorkerOptions> options,
        IEmbeddingTaskSignal? signal = null,
        ILogger<EmbeddingWorker>? logger = null,
        TimeProvider? timeProvider = null,
        IEmbeddingQueueStatistics? statistics = null)
    {
        ArgumentNullException.ThrowIfNull(queue);
        ArgumentNullException.ThrowIfNull(handler);
        ArgumentNullException.ThrowIfNull(options);
        _queue = queue;
        _handler = handler;
        _signal = signal;
        _statistics = statistics ?? queue as IEmbeddingQueueStatistics;
        _options = options.Value;
        _options.Validate();
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _time = timeProvider ?? TimeProvider.System;
        _workerId = _options.WorkerId ?? $"{Environment.MachineName}:{Environment.ProcessId}";
    }

    /// <summary>Gets the tasks this worker completed so far.</summary>
    public long Completed => Interlocked.Read(ref _completed);

    /// <summary>Gets the task failures this worker recorded so far.</summary>
    public long Failed => Interlocked.Read(ref _failed);

    /// <summary>Raised after every iteration that claimed tasks (for progress displays).</summary>
    public event EventHandler<DrainResult>? BatchFinished;

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var models = string.Join(", ", _handler.Models);
        LogStarting(_logger, _workerId, _options.Concurrency, _options.BatchSize, models);

        var loops = Enumerable.Range(0, _options.Concurrency).Select(i => Task.Run(() => LoopAsync(i, stoppingToken), CancellationToken.None)).ToList();
        if (_options.StatsInterval > TimeSpan.Zero && _statistics is { } statistics)
        {
            loops.Add(Task.Run(() => StatsLoopAsync(statistics, stoppingToken), CancellationToken.None));
        }

        await Task.WhenAll(loops).ConfigureAwait(false);
        var completed = Interlocked.Read(ref _completed);
        var failed = Interlocked.Read(ref _failed);
        LogStopped(_logger, _workerId, completed, failed);
    }

    private async Task LoopAsync(int index, CancellationToken stoppingToken)
    {
        var workerId = $"{_workerId}/{index}";
        var backoff = TimeSpan.Zero;
        while (!stoppingToken.IsCancellationRequested)
        {
            DrainResult result;
            try
            {
                result = await EmbeddingTaskDrain.RunOnceAsync(_queue, _handler, _options.BatchSize, workerId, _options.LeaseDuration, _time, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                // Database unreachable or similar: back off and try again; nothing claimed is lost (leases expire).
                backoff = NextBackoff(backoff);
                LogIterationFailed(_logger, workerId, backoff.TotalSeconds, e);
                await DelayAsync(backoff, stoppingToken).ConfigureAwait(false);
                continue;
            }

            if (result.Claimed == 0)
            {
                backoff = TimeSpan.Zero;
                await WaitForWorkAsync(stoppingToken).ConfigureAwait(false);
                continue;
            }

            var completed = result.Completion.Completed.Count + result.Completion.Rerun.Count;
            var failed = result.Failure.Retried.Count + result.Failure.Dead.Count;
            Interlocked.Add(ref _completed, result.Completion.Completed.Count);
            Interlocked.Add(ref _failed, failed);
            BatchFinished?.Invoke(this, result);
            if (result.Completion.LeaseLost.Count + result.Failure.LeaseLost.Count > 0)
            {
                LogLeaseLost(_logger, workerId, result.Completion.LeaseLost.Count + result.Failure.LeaseLost.Count);
            }

            if (completed == 0 && failed > 0)
            {
                // Everything failed: the provider is likely down or limiting; slow down instead of spinning.
                backoff = NextBackoff(backoff);
                await DelayAsync(backoff, stoppingToken).ConfigureAwait(false);
            }
            else
            {
                backoff = TimeSpan.Zero;
            }
        }
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

    private async Task StatsLoopAsync(IEmbeddingQueueStatistics statistics, CancellationToken stoppingToken)
    {
        var models = _handler.Models.ToHashSet(StringComparer.Ordinal);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var stats = await statistics.GetStatsAsync(stoppingToken).ConfigureAwait(false);
                Interlocked.Exchange(ref s_outstanding, stats.Where(s => models.Contains(s.Model)).Sum(s => s.Outstanding));
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                LogStatsFailed(_logger, e.Message);
            }

            await DelayAsync(_options.StatsInterval, stoppingToken).ConfigureAwait(false);
        }
    }

    private TimeSpan NextBackoff(TimeSpan current)
    {
        var next = current == TimeSpan.Zero ? _options.FailureBackoff : current * 2;
        return next > _options.MaxFailureBackoff ? _options.MaxFailureBackoff : next;
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

    [LoggerMessage(EventId = 2005, Level = LogLevel.Debug, Message = "Reading queue statistics failed: {Error}")]
    private static partial void LogStatsFailed(ILogger logger, string error);
}
