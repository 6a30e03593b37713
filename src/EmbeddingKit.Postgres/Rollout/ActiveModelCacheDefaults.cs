namespace EmbeddingKit.Postgres.Rollout;

/// <summary>Defaults of <see cref="ActiveModelCacheOptions"/>.</summary>
public static class ActiveModelCacheDefaults
{
    /// <summary>The longest an entry is kept while the cache listens: 1 minute (bounds what a change made without a
    /// notification, such as settings edited by hand in SQL, takes to be seen).</summary>
    public static readonly TimeSpan MaxAge = TimeSpan.FromMinutes(1);

    /// <summary>The longest an entry is kept while the listening connection is down or not yet listening: 1 second.</summary>
    public static readonly TimeSpan MaxAgeWithoutListener = TimeSpan.FromSeconds(1);

    /// <summary>The most entity types kept: 1,024.</summary>
    public const int MaxEntries = 1024;
}
