namespace EmbeddingKit.Hosting;

/// <summary>
/// What an <see cref="EmbeddingWorker"/> did since it was created, for progress displays and health pages: counts of
/// tasks (summed over its loops) and the outstanding work of its models as last read. Raised by
/// <see cref="EmbeddingWorker.ProgressChanged"/> and read any time from <see cref="EmbeddingWorker.Progress"/>.
/// </summary>
public sealed record EmbeddingWorkerProgress
{
    /// <summary>Gets the tasks claimed.</summary>
    public long Claimed { get; init; }

    /// <summary>Gets the tasks completed (their vector, or their deletion, committed).</summary>
    public long Completed { get; init; }

    /// <summary>Gets the task failures recorded (retried later or dead).</summary>
    public long Failed { get; init; }

    /// <summary>Gets the failures that made a task dead (no attempt left, or an input the provider refuses).</summary>
    public long Dead { get; init; }

    /// <summary>Gets the claimed tasks handed back unprocessed (the worker stopping, or a task deferred).</summary>
    public long Released { get; init; }

    /// <summary>Gets the tasks whose lease another worker took over before this one finished them.</summary>
    public long LeaseLost { get; init; }

    /// <summary>Gets the iterations that failed as a whole (database unreachable, for instance) and were tried again
    /// after a backoff.</summary>
    public long IterationErrors { get; init; }

    /// <summary>Gets the outstanding (not dead) tasks of the worker's models when last read, or -1 before the first
    /// read. Read when a loop finds no work and, every <see cref="EmbeddingWorkerOptions.StatsInterval"/>, by the
    /// statistics loop.</summary>
    public long Outstanding { get; init; } = -1;

    /// <summary>Gets whether the worker stopped because <see cref="EmbeddingWorkerOptions.StopWhenIdle"/> found no work
    /// left for its models.</summary>
    public bool StoppedWhenIdle { get; init; }
}
