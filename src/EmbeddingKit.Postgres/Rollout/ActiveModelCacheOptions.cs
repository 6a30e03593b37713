namespace EmbeddingKit.Postgres.Rollout;

/// <summary>Options of <see cref="ActiveModelCache"/>. Defaults are in <see cref="ActiveModelCacheDefaults"/>.</summary>
public sealed class ActiveModelCacheOptions
{
    /// <summary>Gets or sets the longest an entry is kept while the cache listens for changes. Default 1 minute.</summary>
    public TimeSpan MaxAge { get; set; } = ActiveModelCacheDefaults.MaxAge;

    /// <summary>Gets or sets the longest an entry is kept while the listening connection is down (the bounded staleness
    /// when notifications cannot arrive). Default 1 second; zero reads the state before every search then.</summary>
    public TimeSpan MaxAgeWithoutListener { get; set; } = ActiveModelCacheDefaults.MaxAgeWithoutListener;

    /// <summary>Gets or sets whether the cache opens a connection that listens for changes. Default true; a short-lived
    /// process (a CLI command) that reads the state once turns it off and keeps entries up to
    /// <see cref="MaxAgeWithoutListener"/>.</summary>
    public bool Listen { get; set; } = true;

    /// <summary>Gets or sets the most entity types kept; beyond, the cache is emptied. Default 1,024.</summary>
    public int MaxEntries { get; set; } = ActiveModelCacheDefaults.MaxEntries;

    /// <summary>Throws <see cref="ArgumentException"/> when an option is out of range.</summary>
    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxAge, TimeSpan.Zero, nameof(MaxAge));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxAgeWithoutListener, TimeSpan.Zero, nameof(MaxAgeWithoutListener));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(MaxAgeWithoutListener, MaxAge, nameof(MaxAgeWithoutListener));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxEntries, 1, nameof(MaxEntries));
    }
}
