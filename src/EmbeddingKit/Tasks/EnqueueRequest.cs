namespace EmbeddingKit.Tasks;

/// <summary>A request to (re)embed one entity with one model.</summary>
/// <remarks>
/// Requests for a key that is already queued coalesce into the existing task: its generation is bumped, its next run
/// time is pulled forward, and a worker that is processing it will run it again after it finishes.
/// </remarks>
public sealed record EnqueueRequest
{
    /// <summary>Creates a request.</summary>
    public EnqueueRequest(string entityType, string entityId, string model)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(entityType);
        ArgumentException.ThrowIfNullOrEmpty(entityId);
        ArgumentException.ThrowIfNullOrWhiteSpace(model);
        EntityType = entityType;
        EntityId = entityId;
        Model = model;
    }

    /// <summary>Gets the host's entity type.</summary>
    public string EntityType { get; }

    /// <summary>Gets the host's entity id.</summary>
    public string EntityId { get; }

    /// <summary>Gets the model name.</summary>
    public string Model { get; }

    /// <summary>Gets what the task embeds. Defaults to <see cref="EmbeddingTaskKind.Text"/>.</summary>
    public EmbeddingTaskKind Kind { get; init; } = EmbeddingTaskKind.Text;

    /// <summary>Gets the priority: lower runs first. Defaults to 0; backfills typically use a higher number.</summary>
    public short Priority { get; init; }

    /// <summary>Gets how long to wait before the task becomes ready. Defaults to zero (ready now).</summary>
    public TimeSpan Delay { get; init; }
}
