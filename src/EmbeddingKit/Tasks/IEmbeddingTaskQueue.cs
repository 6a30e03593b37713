namespace EmbeddingKit.Tasks;

/// <summary>
/// The embedding task queue as workers see it. EmbeddingKit.Postgres implements it on a table with
/// <c>FOR UPDATE SKIP LOCKED</c>; any job system (the hosted worker, Hangfire, Quartz) can drive it.
/// </summary>
public interface IEmbeddingTaskQueue
{
    /// <summary>Enqueues (or coalesces) tasks in one round trip.</summary>
    /// <returns>The number of requests written.</returns>
    ValueTask<int> EnqueueAsync(IReadOnlyList<EnqueueRequest> requests, CancellationToken cancellationToken = default);

    /// <summary>Claims up to <see cref="FetchRequest.BatchSize"/> ready tasks of the requested models, by priority then
    /// next run time, under a new lease.</summary>
    ValueTask<IReadOnlyList<EmbeddingTask>> FetchReadyAsync(FetchRequest request, CancellationToken cancellationToken = default);

    /// <summary>Extends the lease of claimed tasks (a heartbeat for long batches).</summary>
    /// <returns>The ids whose lease was extended; the others are no longer held.</returns>
    ValueTask<IReadOnlyList<long>> ExtendLeaseAsync(IReadOnlyList<EmbeddingTask> tasks, TimeSpan leaseDuration, CancellationToken cancellationToken = default);

    /// <summary>Marks claimed tasks done, in one round trip, guarded by lease token and generation.</summary>
    ValueTask<CompleteResult> CompleteAsync(IReadOnlyList<EmbeddingTask> tasks, CancellationToken cancellationToken = default);

    /// <summary>Records failures: backoff, deferral, model pause or dead, by <see cref="TaskFailure.Kind"/>.</summary>
    ValueTask<FailResult> FailAsync(IReadOnlyList<TaskFailure> failures, CancellationToken cancellationToken = default);

    /// <summary>Gives claimed tasks back at once without using an attempt (graceful shutdown).</summary>
    /// <returns>The number of tasks released.</returns>
    ValueTask<int> ReleaseAsync(IReadOnlyList<EmbeddingTask> tasks, CancellationToken cancellationToken = default);
}
