namespace EmbeddingKit.Hosting;

/// <summary>Options of <see cref="EmbeddingWorker"/>, bound from the configuration section <c>EmbeddingKit:Worker</c>.
/// Defaults are in <see cref="EmbeddingWorkerDefaults"/>.</summary>
public sealed class EmbeddingWorkerOptions
{
    /// <summary>The configuration section the options are bound from.</summary>
    public const string SectionName = "EmbeddingKit:Worker";

    /// <summary>Gets or sets the concurrent claim-process loops in this process. Default 2.</summary>
    public int Concurrency { get; set; } = EmbeddingWorkerDefaults.Concurrency;

    /// <summary>Gets or sets the tasks claimed per loop iteration. Default 64.</summary>
    public int BatchSize { get; set; } = EmbeddingWorkerDefaults.BatchSize;

    /// <summary>Gets or sets how long a claim lasts; a heartbeat extends it every third of it. Default 2 minutes.</summary>
    public TimeSpan LeaseDuration { get; set; } = EmbeddingWorkerDefaults.LeaseDuration;

    /// <summary>Gets or sets the longest an idle loop waits before looking again when no signal arrives. Default 5 seconds.</summary>
    public TimeSpan PollInterval { get; set; } = EmbeddingWorkerDefaults.PollInterval;

    /// <summary>Gets or sets the first pause after a failing iteration (database down, provider failing); doubles up to
    /// <see cref="MaxFailureBackoff"/>. Default 1 second.</summary>
    public TimeSpan FailureBackoff { get; set; } = EmbeddingWorkerDefaults.FailureBackoff;

    /// <summary>Gets or sets the longest pause after failing iterations, at most one day. Default 30 seconds.</summary>
    public TimeSpan MaxFailureBackoff { get; set; } = EmbeddingWorkerDefaults.MaxFailureBackoff;

    /// <summary>Gets or sets how often queue depth is read for the <c>embeddingkit.queue.outstanding</c> gauge; zero turns
    /// it off. Default 15 seconds.</summary>
    public TimeSpan StatsInterval { get; set; } = EmbeddingWorkerDefaults.StatsInterval;

    /// <summary>Gets or sets whether the worker stops once its models have no outstanding task left (tasks waiting for a
    /// retry backoff or for the lease of a crashed worker keep it running; those of a paused model do not). Stopping
    /// ends the worker's loops and, in a host, stops the application: a batch job or a command-line run drains the queue
    /// and exits. Default <see langword="false"/> (<see cref="EmbeddingWorkerDefaults.StopWhenIdle"/>).</summary>
    public bool StopWhenIdle { get; set; } = EmbeddingWorkerDefaults.StopWhenIdle;

    /// <summary>Gets or sets the worker name stored with leases. Default <c>machine:pid</c>.</summary>
    public string? WorkerId { get; set; }

    // The largest delay the Polly retry behind the backoff accepts.
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromDays(1);

    /// <summary>Throws <see cref="ArgumentException"/> when an option is out of range.</summary>
    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(Concurrency, 1, nameof(Concurrency));
        ArgumentOutOfRangeException.ThrowIfLessThan(BatchSize, 1, nameof(BatchSize));
        ArgumentOutOfRangeException.ThrowIfLessThan(LeaseDuration, TimeSpan.FromSeconds(3), nameof(LeaseDuration));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(PollInterval, TimeSpan.Zero, nameof(PollInterval));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(FailureBackoff, TimeSpan.Zero, nameof(FailureBackoff));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxFailureBackoff, FailureBackoff, nameof(MaxFailureBackoff));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(MaxFailureBackoff, MaxBackoff, nameof(MaxFailureBackoff)); // Polly's bound
        ArgumentOutOfRangeException.ThrowIfLessThan(StatsInterval, TimeSpan.Zero, nameof(StatsInterval));
    }
}
