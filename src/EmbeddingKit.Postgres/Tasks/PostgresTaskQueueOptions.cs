namespace EmbeddingKit.Postgres.Tasks;

/// <summary>Options of <see cref="PostgresEmbeddingTaskQueue"/>. Defaults are in <see cref="PostgresTaskQueueDefaults"/>.</summary>
public sealed class PostgresTaskQueueOptions
{
    /// <summary>Gets or sets the attempts a retryable task gets before it is dead. Default 10.</summary>
    public int MaxAttempts { get; set; } = PostgresTaskQueueDefaults.MaxAttempts;

    /// <summary>Gets or sets the first retry delay; each later retry doubles it, with jitter. Default 5 seconds.</summary>
    public TimeSpan BackoffBase { get; set; } = PostgresTaskQueueDefaults.BackoffBase;

    /// <summary>Gets or sets the longest retry delay. Default 1 hour.</summary>
    public TimeSpan BackoffMax { get; set; } = PostgresTaskQueueDefaults.BackoffMax;

    /// <summary>Gets or sets the deferral of a rate-limited task when the provider gave no wait. Default 30 seconds.</summary>
    public TimeSpan DefaultRateLimitDelay { get; set; } = PostgresTaskQueueDefaults.DefaultRateLimitDelay;

    /// <summary>Gets or sets the longest deferral honoured for a rate-limited task. Default 15 minutes.</summary>
    public TimeSpan MaxRateLimitDelay { get; set; } = PostgresTaskQueueDefaults.MaxRateLimitDelay;

    /// <summary>Gets or sets how long a model is paused after a configuration error. Default 5 minutes.</summary>
    public TimeSpan ModelPauseDuration { get; set; } = PostgresTaskQueueDefaults.ModelPauseDuration;

    /// <summary>Gets or sets the longest pause for a provider that asks to wait longer than
    /// <see cref="MaxRateLimitDelay"/> (a daily quota's <c>Retry-After</c>): the model is paused until then, at most this
    /// long. Default 1 day.</summary>
    public TimeSpan MaxModelPauseDuration { get; set; } = PostgresTaskQueueDefaults.MaxModelPauseDuration;

    /// <summary>Gets or sets the longest stored error text; longer errors are cut. Default 2,000 characters.</summary>
    public int MaxErrorLength { get; set; } = PostgresTaskQueueDefaults.MaxErrorLength;

    /// <summary>Throws <see cref="ArgumentException"/> when an option is out of range.</summary>
    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxAttempts, 1, nameof(MaxAttempts));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(BackoffBase, TimeSpan.Zero, nameof(BackoffBase));
        ArgumentOutOfRangeException.ThrowIfLessThan(BackoffMax, BackoffBase, nameof(BackoffMax));
        ArgumentOutOfRangeException.ThrowIfLessThan(DefaultRateLimitDelay, TimeSpan.Zero, nameof(DefaultRateLimitDelay));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxRateLimitDelay, DefaultRateLimitDelay, nameof(MaxRateLimitDelay));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(ModelPauseDuration, TimeSpan.Zero, nameof(ModelPauseDuration));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxModelPauseDuration, MaxRateLimitDelay, nameof(MaxModelPauseDuration));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxErrorLength, 100, nameof(MaxErrorLength));
    }
}
