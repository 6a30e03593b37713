using System.Collections.Concurrent;
using EmbeddingKit.Tasks;

namespace EmbeddingKit.Reliability.Tests.Infrastructure;

/// <summary>A hand-written decorator over the real queue that records claims (with their attempt count) and failures.</summary>
public sealed class RecordingQueue(IEmbeddingTaskQueue inner) : IEmbeddingTaskQueue
{
    public ConcurrentDictionary<string, int> ClaimsPerEntity { get; } = new(StringComparer.Ordinal);

    public ConcurrentDictionary<string, int> HighestAttemptPerEntity { get; } = new(StringComparer.Ordinal);

    public ConcurrentQueue<TaskFailure> Failures { get; } = new();

    public ValueTask<int> EnqueueAsync(IReadOnlyList<EnqueueRequest> requests, CancellationToken cancellationToken = default) =>
        inner.EnqueueAsync(requests, cancellationToken);

    public async ValueTask<IReadOnlyList<EmbeddingTask>> FetchReadyAsync(FetchRequest request, CancellationToken cancellationToken = default)
    {
        var tasks = await inner.FetchReadyAsync(request, cancellationToken);
        foreach (var task in tasks)
        {
            ClaimsPerEntity.AddOrUpdate(task.EntityId, 1, (_, n) => n + 1);
            HighestAttemptPerEntity.AddOrUpdate(task.EntityId, task.Attempts, (_, n) => Math.Max(n, task.Attempts));
        }

        return tasks;
    }

    public ValueTask<IReadOnlyList<long>> ExtendLeaseAsync(IReadOnlyList<EmbeddingTask> tasks, TimeSpan leaseDuration, CancellationToken cancellationToken = default) =>
        inner.ExtendLeaseAsync(tasks, leaseDuration, cancellationToken);

    public ValueTask<CompleteResult> CompleteAsync(IReadOnlyList<EmbeddingTask> tasks, CancellationToken cancellationToken = default) =>
        inner.CompleteAsync(tasks, cancellationToken);

    public ValueTask<FailResult> FailAsync(IReadOnlyList<TaskFailure> failures, CancellationToken cancellationToken = default)
    {
        foreach (var failure in failures)
        {
            Failures.Enqueue(failure);
        }

        return inner.FailAsync(failures, cancellationToken);
    }

    public ValueTask<int> ReleaseAsync(IReadOnlyList<EmbeddingTask> tasks, CancellationToken cancellationToken = default) =>
        inner.ReleaseAsync(tasks, cancellationToken);
}
