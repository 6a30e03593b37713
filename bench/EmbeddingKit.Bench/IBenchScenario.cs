namespace EmbeddingKit.Bench;

/// <summary>One end-to-end scenario of the bench program. Implementations are found by reflection.</summary>
internal interface IBenchScenario
{
    /// <summary>The scenario name given on the command line (the contract: never rename).</summary>
    string Name { get; }

    /// <summary>One line saying what it measures.</summary>
    string Description { get; }

    /// <summary>Runs the scenario and returns its metrics. Human-readable progress goes to <see cref="BenchContext.Log"/>.</summary>
    Task<BenchResult> RunAsync(BenchContext context, CancellationToken cancellationToken);
}
