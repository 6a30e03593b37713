namespace EmbeddingKit.Tasks;

/// <summary>A task claimed by a worker: the work, and the lease that proves the worker may finish it.</summary>
public sealed record EmbeddingTask
{
    /// <summary>Gets the task row id.</summary>
    public required long Id { get; init; }

    /// <summary>Gets the host's entity type.</summary>
    public required string EntityType { get; init; }

    /// <summary>Gets the host's entity id.</summary>
    public required string EntityId { get; init; }

    /// <summary>Gets the model name.</summary>
    public required string Model { get; init; }

    /// <summary>Gets what the task embeds.</summary>
    public EmbeddingTaskKind Kind { get; init; }

    /// <summary>Gets the priority (lower runs first).</summary>
    public short Priority { get; init; }

    /// <summary>
    /// Gets the generation the task was claimed at. Every enqueue of the key takes a new, larger generation from one
    /// sequence, so a result stored for generation <c>g</c> is never overwritten by a result for an older one.
    /// </summary>
    public required long Generation { get; init; }

    /// <summary>Gets the attempts used so far, including this one.</summary>
    public int Attempts { get; init; }

    /// <summary>Gets how often the task was deferred because the provider was rate limiting (these use no attempt).</summary>
    public int Deferrals { get; init; }

    /// <summary>Gets the token of the lease under which the task was claimed.</summary>
    public required Guid LeaseToken { get; init; }

    /// <summary>Gets when the lease expires, by the database clock.</summary>
    public DateTimeOffset LeaseExpiresAt { get; init; }

    /// <summary>Gets when the key was first enqueued since it was last done.</summary>
    public DateTimeOffset FirstEnqueuedAt { get; init; }

    /// <summary>Gets when the key was last enqueued.</summary>
    public DateTimeOffset EnqueuedAt { get; init; }

    /// <summary>Gets the error of the previous attempt, if any.</summary>
    public string? LastError { get; init; }

    /// <summary>Gets the natural key of the task.</summary>
    public EmbeddingTaskKey Key => new(EntityType, EntityId, Model);
}
