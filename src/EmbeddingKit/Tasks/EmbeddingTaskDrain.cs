namespace EmbeddingKit.Tasks;

/// <summary>
/// One claim-process-finish cycle over any <see cref="IEmbeddingTaskQueue"/>: the single entry point that the hosted
/// worker and other job systems (Hangfire, Quartz, a cron job) call.
/// </summary>
public static class EmbeddingTaskDrain
{
    /// <summary>
    /// Claims up to <paramref name="batchSize"/> ready tasks of the handler's models, lets the handler process them while
    /// a heartbeat keeps the lease, then completes and fails them in one round trip each. If cancelled before the
    /// handler finishes, the claimed tasks are released at once (not left to lease expiry); if the handler throws, every
    /// task of the batch fails as retryable with the exception's message.
    /// </summary>
    public static async Task<DrainResult> RunOnceAsync(
        IEmbeddingTaskQueue queue,
        IEmbeddingTaskHandler handler,
        int batchSize,
        string workerId,
        TimeSpan leaseDuration,
        TimeProvider? timeProvider = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(queue);
        ArgumentNullException.ThrowIfNull(handler);
        timeProvider ??= TimeProvider.System;
        var tasks = await queue.FetchReadyAsync(new FetchRequest(handler.Models, batchSize, workerId, leaseDuration), cancellationToken).ConfigureAwait(false);
        if (tasks.Count == 0)
        {
            return DrainResult.Idle;
        }

        TaskBatchOutcome outcome;
        using var heartbeatStop = new CancellationTokenSource();
        var heartbeat = HeartbeatAsync(queue, tasks, leaseDuration, timeProvider, heartbeatStop.Token);
        try
        {
            outcome = await handler.HandleAsync(tasks, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            await heartbeatStop.CancelAsync().ConfigureAwait(false);
            await heartbeat.ConfigureAwait(false);
            var released = await queue.ReleaseAsync(tasks, CancellationToken.None).ConfigureAwait(false);
            return new DrainResult(tasks.Count, CompleteResult.Empty, FailResult.Empty, released);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            outcome = new TaskBatchOutcome([], [.. tasks.Select(t => new TaskFailure(t, TaskFailureKind.Retryable, $"{e.GetType().Name}: {e.Message}"))]);
        }
        finally
        {
            await heartbeatStop.CancelAsync().ConfigureAwait(false);
            await heartbeat.ConfigureAwait(false);
        }

        // Finishing is not cancellable: the work is done and must be recorded, even during shutdown.
        var completion = outcome.Completed.Count == 0
            ? CompleteResult.Empty
            : await queue.CompleteAsync(outcome.Completed, CancellationToken.None).ConfigureAwait(false);
        var failure = outcome.Failed.Count == 0
            ? FailResult.Empty
            : await queue.FailAsync(outcome.Failed, CancellationToken.None).ConfigureAwait(false);
        var releasedUnhandled = outcome.Released.Count == 0
            ? 0
            : await queue.ReleaseAsync(outcome.Released, CancellationToken.None).ConfigureAwait(false);
        return new DrainResult(tasks.Count, completion, failure, releasedUnhandled);
    }

    private static async Task HeartbeatAsync(IEmbeddingTaskQueue queue, IReadOnlyList<EmbeddingTask> tasks, TimeSpan leaseDuration, TimeProvider timeProvider, CancellationToken cancellationToken)
    {
        var period = leaseDuration / 3;
        using var timer = new PeriodicTimer(period, timeProvider);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                await queue.ExtendLeaseAsync(tasks, leaseDuration, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
            // The batch finished.
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // A failed heartbeat is not fatal: the lease may expire and the tasks run again elsewhere; the guarded
            // complete then reports them as lease-lost.
        }
    }
}
