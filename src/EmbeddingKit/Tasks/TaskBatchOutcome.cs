namespace EmbeddingKit.Tasks;

/// <summary>The result of handling a batch of claimed tasks.</summary>
/// <param name="Completed">Tasks whose result is stored.</param>
/// <param name="Failed">Tasks that failed, each with its kind and error.</param>
public sealed record TaskBatchOutcome(IReadOnlyList<EmbeddingTask> Completed, IReadOnlyList<TaskFailure> Failed)
{
    /// <summary>Gets tasks the handler gives back untouched (for example of a model it does not know); they are released
    /// at once without using an attempt.</summary>
    public IReadOnlyList<EmbeddingTask> Released { get; init; } = [];
}
