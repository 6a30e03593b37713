using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace EmbeddingKit.Diagnostics;

/// <summary>
/// EmbeddingKit's one <see cref="ActivitySource"/> and one <see cref="Meter"/>, both named <c>EmbeddingKit</c>, and their
/// instruments. Hosts subscribe by <see cref="Name"/> (OpenTelemetry's <c>AddMeter</c>/<c>AddSource</c>, or a
/// <c>MeterListener</c>) and see the instruments by their names (see docs/operations.md); the instrument objects themselves
/// are internal, so only the library records into them.
/// </summary>
public static class EmbeddingKitDiagnostics
{
    /// <summary>The name of the activity source and the meter.</summary>
    public const string Name = "EmbeddingKit";

    /// <summary>The activity source: a span per handled batch and per provider call.</summary>
    public static readonly ActivitySource ActivitySource = new(Name, typeof(EmbeddingKitDiagnostics).Assembly.GetName().Version?.ToString());

    /// <summary>The meter.</summary>
    public static readonly Meter Meter = new(Name, typeof(EmbeddingKitDiagnostics).Assembly.GetName().Version?.ToString());

    /// <summary><c>embeddingkit.tasks.completed</c>: tasks done, tagged <c>model</c> and <c>outcome</c>
    /// (<c>embedded</c>, <c>unchanged</c>, <c>deleted</c>).</summary>
    internal static readonly Counter<long> TasksCompleted = Meter.CreateCounter<long>("embeddingkit.tasks.completed", "{task}", "Embedding tasks done.");

    /// <summary><c>embeddingkit.tasks.failed</c>: task failures, tagged <c>model</c> and <c>kind</c>.</summary>
    internal static readonly Counter<long> TasksFailed = Meter.CreateCounter<long>("embeddingkit.tasks.failed", "{task}", "Embedding task failures.");

    /// <summary><c>embeddingkit.batch.duration</c>: seconds to handle one claimed batch.</summary>
    internal static readonly Histogram<double> BatchDuration = Meter.CreateHistogram<double>("embeddingkit.batch.duration", "s", "Time to handle a claimed batch of tasks.");

    /// <summary><c>embeddingkit.provider.duration</c>: seconds per embedding generator call, tagged <c>model</c>.</summary>
    internal static readonly Histogram<double> ProviderDuration = Meter.CreateHistogram<double>("embeddingkit.provider.duration", "s", "Time per embedding generator call.");

    /// <summary><c>embeddingkit.provider.inputs</c>: inputs sent to embedding generators, tagged <c>model</c>.</summary>
    internal static readonly Counter<long> ProviderInputs = Meter.CreateCounter<long>("embeddingkit.provider.inputs", "{input}", "Inputs sent to embedding generators.");
}
