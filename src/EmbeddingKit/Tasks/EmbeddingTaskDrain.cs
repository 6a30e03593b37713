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
        var leases = new LeaseKeeper(tasks);
        using var heartbeatStop = new CancellationTokenSource();
        using var handling = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var heartbeat = HeartbeatAsync(queue, leases, leaseDuration, timeProvider, handling, heartbeatStop.Token);
        try
        {
            outcome = await handler.HandleAsync(tasks, handling.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            await heartbeatStop.CancelAsync().ConfigureAwait(false);
            await heartbeat.ConfigureAwait(false);
            var released = await queue.ReleaseAsync(leases.Held, CancellationToken.None).ConfigureAwait(false);
            return new DrainResult(tasks.Count, leases.WithLost(CompleteResult.Empty), FailResult.Empty, released);
        }
        catch (OperationCanceledException) when (leases.AllLost)
        {
            // Every lease is gone: the tasks belong to another worker now, there is nothing to record.
            await heartbeatStop.CancelAsync().ConfigureAwait(false);
            await heartbeat.ConfigureAwait(false);
            return new DrainResult(tasks.Count, leases.WithLost(CompleteResult.Empty), FailResult.Empty, 0);
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

        // Finishing is not cancellable: the work is done and must be recorded, even during shutdown. Tasks whose lease a
        // heartbeat found gone are someone else's: neither completed nor failed here.
        var completed = leases.Keep(outcome.Completed);
        var failed = leases.Keep(outcome.Failed);
        var unhandled = leases.Keep(outcome.Released);
        var completion = completed.Count == 0
            ? CompleteResult.Empty
            : await queue.CompleteAsync(completed, CancellationToken.None).ConfigureAwait(false);
        var failure = failed.Count == 0
            ? FailResult.Empty
            : await queue.FailAsync(failed, CancellationToken.None).ConfigureAwait(false);
        var releasedUnhandled = unhandled.Count == 0
            ? 0
            : await queue.ReleaseAsync(unhandled, CancellationToken.None).ConfigureAwait(false);
        return new DrainResult(tasks.Count, leases.WithLost(completion), failure, releasedUnhandled);
    }

    /// <summary>Extends the leases every third of their duration. A failed extension is not fatal (the next tick tries
    /// again: one network blip must not cost the batch its leases); tasks whose lease the queue no longer finds are
    /// dropped from the batch, and when none is left the handler is cancelled.</summary>
    private static async Task HeartbeatAsync(
        IEmbeddingTaskQueue queue, LeaseKeeper leases, TimeSpan leaseDuration, TimeProvider timeProvider, CancellationTokenSource handling, CancellationToken cancellationToken)
    {
        var period = leaseDuration / 3;
        using var timer = new PeriodicTimer(period, timeProvider);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                var held = leases.Held;
                IReadOnlyList<long> extended;
                try
                {
                    extended = await queue.ExtendLeaseAsync(held, leaseDuration, cancellationToken).ConfigureAwait(false);
                }
                catch (Exception e) when (e is not (OperationCanceledException or OutOfMemoryException))
                {
                    // Try again at the next tick: the lease still has two thirds of its time.
                    continue;
                }

                if (leases.Lose(held, extended))
                {
                    await handling.CancelAsync().ConfigureAwait(false);
                    return;
                }
            }
        }
        catch (OperationCanceledException)
        {
            // The batch finished.
        }
    }

    /// <summary>The leases of one batch that the worker still holds.</summary>
    private sealed class LeaseKeeper(IReadOnlyList<EmbeddingTask> tasks)
    {
        private readonly Lock _gate = new();
        private readonly HashSet<long> _lost = [];
        private IReadOnlyList<EmbeddingTask> _held = tasks;

        public IReadOnlyList<EmbeddingTask> Held
        {
            get
            {
                lock (_gate)
                {
                    return _held;
                }
            }
        }

        public bool AllLost
        {
            get
            {
                lock (_gate)
                {
                    return _held.Count == 0;
                }
            }
        }

        /// <summary>Records which of <paramref name="asked"/> were not extended; returns whether none is left.</summary>
        public bool Lose(IReadOnlyList<EmbeddingTask> asked, IReadOnlyList<long> extended)
        {
            if (extended.Count == asked.Count)
            {
                return false;
            }

            var kept = new HashSet<long>(extended);
            lock (_gate)
            {
                foreach (var task in asked)
                {
                    if (!kept.Contains(task.Id))
                    {
                        _lost.Add(task.Id);
                    }
                }

                _held = [.. _held.Where(t => !_lost.Contains(t.Id))];
                return _held.Count == 0;
            }
        }

        public IReadOnlyList<EmbeddingTask> Keep(IReadOnlyList<EmbeddingTask> list)
        {
            lock (_gate)
            {
                return _lost.Count == 0 ? list : [.. list.Where(t => !_lost.Contains(t.Id))];
            }
        }

        public IReadOnlyList<TaskFailure> Keep(IReadOnlyList<TaskFailure> list)
        {
            lock (_gate)
            {
                return _lost.Count == 0 ? list : [.. list.Where(f => !_lost.Contains(f.Task.Id))];
            }
        }

        /// <summary>Adds the tasks whose lease a heartbeat found gone to the lease-lost ids of a completion.</summary>
        public CompleteResult WithLost(CompleteResult completion)
        {
            lock (_gate)
            {
                return _lost.Count == 0 ? completion : completion with { LeaseLost = [.. completion.LeaseLost, .. _lost.Order()] };
            }
        }
    }
}
