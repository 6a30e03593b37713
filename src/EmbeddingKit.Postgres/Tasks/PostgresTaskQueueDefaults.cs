namespace EmbeddingKit.Postgres.Tasks;

/// <summary>The default values of <see cref="PostgresTaskQueueOptions"/>.</summary>
public static class PostgresTaskQueueDefaults
{
    /// <summary>10 attempts.</summary>
    public const int MaxAttempts = 10;

    /// <summary>2,000 characters.</summary>
    public const int MaxErrorLength = 2_000;

    /// <summary>5 seconds.</summary>
    public static readonly TimeSpan BackoffBase = TimeSpan.FromSeconds(5);

    /// <summary>1 hour.</summary>
    public static readonly TimeSpan BackoffMax = TimeSpan.FromHours(1);

    /// <summary>30 seconds.</summary>
    public static readonly TimeSpan DefaultRateLimitDelay = TimeSpan.FromSeconds(30);

    /// <summary>15 minutes.</summary>
    public static readonly TimeSpan MaxRateLimitDelay = TimeSpan.FromMinutes(15);

    /// <summary>5 minutes.</summary>
    public static readonly TimeSpan ModelPauseDuration = TimeSpan.FromMinutes(5);

    /// <summary>1 day.</summary>
    public static readonly TimeSpan MaxModelPauseDuration = TimeSpan.FromDays(1);
}
