namespace EmbeddingKit.Tasks;

/// <summary>A task that could not be done, kept with its error.</summary>
public sealed record DeadTask
{
    /// <summary>Gets the task's natural key.</summary>
    public required EmbeddingTaskKey Key { get; init; }

    /// <summary>Gets what the task embeds.</summary>
    public EmbeddingTaskKind Kind { get; init; }

    /// <summary>Gets the generation it died at.</summary>
    public long Generation { get; init; }

    /// <summary>Gets the attempts it used.</summary>
    public int Attempts { get; init; }

    /// <summary>Gets the deferrals it had.</summary>
    public int Deferrals { get; init; }

    /// <summary>Gets the error it died with.</summary>
    public required string Error { get; init; }

    /// <summary>Gets when it died, by the database clock.</summary>
    public DateTimeOffset DiedAt { get; init; }
}
