namespace EmbeddingKit.Tasks;

/// <summary>What happened to tasks a worker reported as done.</summary>
/// <param name="Completed">Ids removed from the queue: done for the generation they were claimed at.</param>
/// <param name="Rerun">Ids enqueued again while they ran: kept, released and ready to run again, so that the newer
/// generation is embedded too.</param>
/// <param name="LeaseLost">Ids the worker no longer held: another worker took them over after the lease expired, or they
/// were cancelled. Nothing was changed for them.</param>
public sealed record CompleteResult(IReadOnlyList<long> Completed, IReadOnlyList<long> Rerun, IReadOnlyList<long> LeaseLost)
{
    /// <summary>An empty result.</summary>
    public static CompleteResult Empty { get; } = new([], [], []);
}
