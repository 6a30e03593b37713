namespace EmbeddingKit.Postgres.Tasks;

/// <summary>The retry schedule: exponential from <see cref="PostgresTaskQueueOptions.BackoffBase"/>, capped, with
/// "equal jitter" (half fixed, half random) so that retries of one failed batch spread out.</summary>
internal static class TaskBackoff
{
    /// <summary>The delay before the next try after <paramref name="attempts"/> used attempts.</summary>
    /// <param name="attempts">Attempts used so far (1 after the first failure).</param>
    /// <param name="options">The queue options.</param>
    /// <param name="jitter">A number in [0, 1): 0 gives half the exponential delay, values near 1 give all of it.</param>
    public static TimeSpan Delay(int attempts, PostgresTaskQueueOptions options, double jitter)
    {
        ArgumentNullException.ThrowIfNull(options);
        var exponent = Math.Clamp(attempts - 1, 0, 30);
        var ceiling = Math.Min(options.BackoffBase.TotalSeconds * Math.Pow(2, exponent), options.BackoffMax.TotalSeconds);
        return TimeSpan.FromSeconds(ceiling * (0.5 + (0.5 * Math.Clamp(jitter, 0, 1))));
    }
}
