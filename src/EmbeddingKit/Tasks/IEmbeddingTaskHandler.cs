namespace EmbeddingKit.Tasks;

/// <summary>Does the work of claimed tasks. EmbeddingKit's runtime is one; a host may write its own.</summary>
public interface IEmbeddingTaskHandler
{
    /// <summary>The models this handler can process; only their tasks are claimed for it.</summary>
    IReadOnlyCollection<string> Models { get; }

    /// <summary>Processes claimed tasks and says which are done and which failed (and how). Must not complete or fail
    /// tasks itself; the caller does both in one round trip each.</summary>
    ValueTask<TaskBatchOutcome> HandleAsync(IReadOnlyList<EmbeddingTask> tasks, CancellationToken cancellationToken = default);
}
