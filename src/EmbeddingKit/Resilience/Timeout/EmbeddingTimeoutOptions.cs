namespace EmbeddingKit.Resilience;

/// <summary>Settings of the timeout middleware (<c>UseTimeout</c>): a call that has not completed within
/// <see cref="Timeout"/> is cancelled and fails with a transient <see cref="EmbeddingTransientException"/>, which the
/// retry middleware outside it retries. Validated when the middleware is added.</summary>
public sealed class EmbeddingTimeoutOptions
{
    /// <summary>Gets or sets the timeout. Default 60 seconds; <see cref="System.Threading.Timeout.InfiniteTimeSpan"/>
    /// disables it.</summary>
    public TimeSpan Timeout { get; set; } = EmbeddingResilienceDefaults.AttemptTimeout;

    internal TimeSpan Validated()
    {
        if (Timeout <= TimeSpan.Zero && Timeout != System.Threading.Timeout.InfiniteTimeSpan)
        {
            throw new EmbeddingConfigurationException("Invalid timeout options: Timeout must be positive or infinite.");
        }

        return Timeout;
    }
}
