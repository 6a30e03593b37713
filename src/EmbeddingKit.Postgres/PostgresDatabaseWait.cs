using Polly;
using Polly.Retry;

namespace EmbeddingKit.Postgres;

/// <summary>
/// The wait for a database that is not reachable yet (started with the application, restarting), shared by
/// <c>UsePostgres(applyMigrationsOnStart: true)</c> and the CLI's <c>--wait-for-database</c>: a Polly retry of what
/// <see cref="PostgresConnectivity.IsUnreachable"/> calls unreachable, after <see cref="FirstDelay"/> doubling to
/// <see cref="MaxDelay"/> (no jitter), as long as the next try starts within the wait from the first one. Any other error,
/// or the last one when the wait is spent, goes to the caller. Time comes from the given <see cref="TimeProvider"/>.
/// </summary>
internal static class PostgresDatabaseWait
{
    /// <summary>The wait after the first failure, doubled per failure.</summary>
    public static readonly TimeSpan FirstDelay = TimeSpan.FromMilliseconds(500);

    /// <summary>The longest wait between two tries.</summary>
    public static readonly TimeSpan MaxDelay = TimeSpan.FromSeconds(10);

    /// <summary>Builds the pipeline of one wait; its budget counts from now.</summary>
    /// <param name="maxWait">How long, from now, a next try may start; zero for no retry.</param>
    /// <param name="timeProvider">The clock of the waits and of the budget.</param>
    /// <param name="onRetry">Runs before each wait, with the failure and the wait; null for nothing.</param>
    public static ResiliencePipeline Create(TimeSpan maxWait, TimeProvider timeProvider, Action<Exception, TimeSpan>? onRetry = null)
    {
        ArgumentNullException.ThrowIfNull(timeProvider);
        var started = timeProvider.GetTimestamp();
        return new ResiliencePipelineBuilder { TimeProvider = timeProvider }
            .AddRetry(new RetryStrategyOptions
            {
                ShouldHandle = args => ValueTask.FromResult(
                    args.Outcome.Exception is { } e
                    && e is not OperationCanceledException
                    && PostgresConnectivity.IsUnreachable(e)
                    && timeProvider.GetElapsedTime(started) + DelayBefore(args.AttemptNumber) <= maxWait),
                MaxRetryAttempts = int.MaxValue,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = false,
                Delay = FirstDelay,
                MaxDelay = MaxDelay,
                OnRetry = args =>
                {
                    onRetry?.Invoke(args.Outcome.Exception!, args.RetryDelay);
                    return default;
                },
            })
            .Build();
    }

    /// <summary>The delay Polly waits before retry <paramref name="attempt"/> (0 for the first retry): exponential without
    /// jitter, capped. The budget is checked against it before the retry is decided.</summary>
    internal static TimeSpan DelayBefore(int attempt) =>
        attempt >= 16 ? MaxDelay : TimeSpan.FromTicks(Math.Min(FirstDelay.Ticks << attempt, MaxDelay.Ticks));
}
