namespace EmbeddingKit.Resilience;

/// <summary>Settings of the concurrency limit middleware (<c>UseConcurrencyLimit</c>): at most
/// <see cref="MaxConcurrentCalls"/> calls reach the inner generator at once, across all callers; the others wait in
/// order. Validated when the middleware is added.</summary>
public sealed class EmbeddingConcurrencyOptions
{
    /// <summary>Gets or sets the most calls in flight at once. Default 4.</summary>
    public int MaxConcurrentCalls { get; set; } = EmbeddingResilienceDefaults.MaxConcurrentCalls;

    internal int Validated() => MaxConcurrentCalls is >= 1 and <= 1024
        ? MaxConcurrentCalls
        : throw new EmbeddingConfigurationException("Invalid concurrency options: MaxConcurrentCalls must be between 1 and 1024.");
}
