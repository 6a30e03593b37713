namespace EmbeddingKit.Tasks;

/// <summary>What one <see cref="EmbeddingTaskDrain.RunOnceAsync"/> did.</summary>
/// <param name="Claimed">Tasks claimed.</param>
/// <param name="Completion">What happened to the tasks reported done.</param>
/// <param name="Failure">What happened to the tasks reported failed.</param>
/// <param name="Released">Tasks given back unprocessed (cancellation).</param>
public sealed record DrainResult(int Claimed, CompleteResult Completion, FailResult Failure, int Released)
{
    /// <summary>Nothing was ready.</summary>
    public static DrainResult Idle { get; } = new(0, CompleteResult.Empty, FailResult.Empty, 0);
}
