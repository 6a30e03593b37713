namespace EmbeddingKit.Tasks;

/// <summary>The result of handling a batch of claimed tasks.</summary>
/// <param name="Completed">Tasks whose result is stored.</param>
/// <param name="Failed">Tasks that failed, each with its kind and error.</param>
public sealed record TaskBatchOutcome(IReadOnlyList<EmbeddingTask> Completed, IReadOnlyList<TaskFailure> Failed);
