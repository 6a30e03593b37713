namespace EmbeddingKit.Cli.Infrastructure;

/// <summary>What a run of <see cref="WorkerRun"/> did (the <c>--json</c> document of <c>work</c>).</summary>
internal sealed record WorkSummary
{
    public required IReadOnlyList<string> Models { get; init; }

    public long Claimed { get; init; }

    public long Completed { get; init; }

    public long Failed { get; init; }

    public long Dead { get; init; }

    public long Released { get; init; }

    public long LeaseLost { get; init; }

    /// <summary>Worker iterations that failed as a whole (the database unreachable, for instance) and were retried after a
    /// backoff.</summary>
    public long TransientErrors { get; init; }

    public long Outstanding { get; init; }

    public double ElapsedSeconds { get; init; }

    public double RatePerSecond { get; init; }

    public bool Interrupted { get; init; }
}
