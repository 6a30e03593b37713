namespace EmbeddingKit.Tasks;

/// <summary>A queue that can report its outstanding work (for metrics and status pages).</summary>
public interface IEmbeddingQueueStatistics
{
    /// <summary>Outstanding and dead work by entity type and model.</summary>
    ValueTask<IReadOnlyList<QueueStats>> GetStatsAsync(CancellationToken cancellationToken = default);
}
