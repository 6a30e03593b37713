namespace EmbeddingKit;

/// <summary>
/// A worker tried to complete, fail or extend tasks whose lease it no longer holds: the lease expired and another worker
/// took the task over, or the task was cancelled. The worker's result for those tasks is discarded.
/// </summary>
public sealed class LeaseLostException : EmbeddingKitException
{
    /// <summary>Creates the exception.</summary>
    public LeaseLostException(string message, IReadOnlyList<long> taskIds)
        : base(message)
    {
        TaskIds = taskIds;
    }

    /// <summary>Gets the ids of the tasks whose lease was lost.</summary>
    public IReadOnlyList<long> TaskIds { get; }
}
