namespace EmbeddingKit.Tasks;

/// <summary>Wakes idle workers when tasks are enqueued (PostgreSQL: <c>LISTEN/NOTIFY</c>). Workers also poll, so a
/// missed signal only delays work, never loses it.</summary>
public interface IEmbeddingTaskSignal
{
    /// <summary>Waits until tasks were enqueued since the last wake-up, or <paramref name="timeout"/> passes.</summary>
    /// <returns>True when woken by a signal, false on timeout.</returns>
    ValueTask<bool> WaitAsync(TimeSpan timeout, CancellationToken cancellationToken = default);
}
