namespace EmbeddingKit.Tasks;

/// <summary>What happened to tasks a worker reported as failed.</summary>
/// <param name="Retried">Ids scheduled to run again after a backoff or a deferral.</param>
/// <param name="Dead">Ids moved to the dead tasks, with their error.</param>
/// <param name="LeaseLost">Ids the worker no longer held; nothing was changed for them.</param>
public sealed record FailResult(IReadOnlyList<long> Retried, IReadOnlyList<long> Dead, IReadOnlyList<long> LeaseLost)
{
    /// <summary>An empty result.</summary>
    public static FailResult Empty { get; } = new([], [], []);
}
