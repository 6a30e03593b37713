using Microsoft.Extensions.Time.Testing;

namespace EmbeddingKit.TestInfrastructure.Time;

/// <summary>
/// A <see cref="FakeTimeProvider"/> that counts the timers created on it (every <c>Task.Delay</c> on it makes one), so a
/// test can wait until a loop has started its wait before advancing the clock past it: advancing earlier would leave a
/// wait created afterwards pending.
/// </summary>
public sealed class TimerCountingTimeProvider : FakeTimeProvider
{
    private int _timersCreated;

    /// <summary>Gets the timers created so far.</summary>
    public int TimersCreated => Volatile.Read(ref _timersCreated);

    /// <inheritdoc />
    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var timer = base.CreateTimer(callback, state, dueTime, period);
        Interlocked.Increment(ref _timersCreated);
        return timer;
    }

    /// <summary>Waits (bounded by <paramref name="limit"/> of real time, only against hanging) until at least
    /// <paramref name="count"/> timers were created.</summary>
    /// <param name="count">The timers to wait for.</param>
    /// <param name="limit">The real time after which it gives up and returns false.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <returns>Whether the timers were created.</returns>
    public async Task<bool> WaitForTimersAsync(int count, TimeSpan limit, CancellationToken cancellationToken = default)
    {
        var giveUp = DateTimeOffset.UtcNow + limit;
        while (TimersCreated < count && DateTimeOffset.UtcNow < giveUp)
        {
            await Task.Delay(2, cancellationToken).ConfigureAwait(false);
        }

        return TimersCreated >= count;
    }
}
