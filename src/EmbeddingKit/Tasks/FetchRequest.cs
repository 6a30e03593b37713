namespace EmbeddingKit.Tasks;

/// <summary>What a worker asks for when it claims tasks.</summary>
public sealed record FetchRequest
{
    /// <summary>Creates a request.</summary>
    /// <param name="models">The models this worker can process. Tasks of other models are never claimed, so workers
    /// of old and new configurations can share one queue during a rolling deploy.</param>
    /// <param name="batchSize">The most tasks to claim (1 to 10,000).</param>
    /// <param name="workerId">A name for the worker, stored with the lease for operators.</param>
    /// <param name="leaseDuration">How long the claim lasts unless extended (at least one second).</param>
    public FetchRequest(IReadOnlyCollection<string> models, int batchSize, string workerId, TimeSpan leaseDuration)
    {
        ArgumentNullException.ThrowIfNull(models);
        if (models.Count == 0)
        {
            throw new ArgumentException("At least one model is required.", nameof(models));
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(batchSize, 10_000);
        ArgumentException.ThrowIfNullOrWhiteSpace(workerId);
        ArgumentOutOfRangeException.ThrowIfLessThan(leaseDuration, TimeSpan.FromSeconds(1));
        Models = models;
        BatchSize = batchSize;
        WorkerId = workerId;
        LeaseDuration = leaseDuration;
    }

    /// <summary>Gets the models to claim tasks of.</summary>
    public IReadOnlyCollection<string> Models { get; }

    /// <summary>Gets the most tasks to claim.</summary>
    public int BatchSize { get; }

    /// <summary>Gets the worker's name.</summary>
    public string WorkerId { get; }

    /// <summary>Gets how long the claim lasts unless extended.</summary>
    public TimeSpan LeaseDuration { get; }
}
