namespace EmbeddingKit.Hosting;

/// <summary>The defaults of <see cref="EmbeddingWorkerOptions"/>.</summary>
public static class EmbeddingWorkerDefaults
{
    /// <summary>2 loops.</summary>
    public const int Concurrency = 2;

    /// <summary>Runs until the host stops.</summary>
    public const bool StopWhenIdle = false;

    /// <summary>64 tasks.</summary>
    public const int BatchSize = 64;

    /// <summary>2 minutes.</summary>
    public static readonly TimeSpan LeaseDuration = TimeSpan.FromMinutes(2);

    /// <summary>5 seconds.</summary>
    public static readonly TimeSpan PollInterval = TimeSpan.FromSeconds(5);

    /// <summary>1 second.</summary>
    public static readonly TimeSpan FailureBackoff = TimeSpan.FromSeconds(1);

    /// <summary>30 seconds.</summary>
    public static readonly TimeSpan MaxFailureBackoff = TimeSpan.FromSeconds(30);

    /// <summary>15 seconds.</summary>
    public static readonly TimeSpan StatsInterval = TimeSpan.FromSeconds(15);
}
