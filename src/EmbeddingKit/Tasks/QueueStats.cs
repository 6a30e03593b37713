namespace EmbeddingKit.Tasks;

/// <summary>Outstanding and dead work of one entity type and model.</summary>
public sealed record QueueStats
{
    /// <summary>Gets the entity type.</summary>
    public required string EntityType { get; init; }

    /// <summary>Gets the model.</summary>
    public required string Model { get; init; }

    /// <summary>Gets tasks ready to run now.</summary>
    public long Ready { get; init; }

    /// <summary>Gets tasks waiting for a backoff, a deferral or a delay.</summary>
    public long Scheduled { get; init; }

    /// <summary>Gets tasks claimed by a worker whose lease has not expired.</summary>
    public long Running { get; init; }

    /// <summary>Gets claimed tasks whose lease expired (their worker likely died); they are ready again.</summary>
    public long LeaseExpired { get; init; }

    /// <summary>Gets dead tasks, kept with their error until requeued or pruned.</summary>
    public long Dead { get; init; }

    /// <summary>Gets the age of the oldest outstanding task (since it was first enqueued), by the database clock.</summary>
    public TimeSpan? OldestAge { get; init; }

    /// <summary>Gets whether the model is paused after a configuration error, and until when.</summary>
    public DateTimeOffset? PausedUntil { get; init; }

    /// <summary>Gets why the model is paused (the provider's message, or the wait it asked for), while it is.</summary>
    public string? PauseReason { get; init; }

    /// <summary>Gets the total outstanding (not dead) tasks.</summary>
    public long Outstanding => Ready + Scheduled + Running + LeaseExpired;
}
