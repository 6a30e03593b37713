namespace EmbeddingKit.Resilience;

/// <summary>
/// Settings of the whole resilience stack (<c>UseResilience</c>), outermost first: a total timeout, retries, a
/// concurrency limit, a token budget (off unless <see cref="TokenBudget"/> is set) and a per-attempt timeout. The
/// defaults are those of EmbeddingKit's OpenAI-compatible client. Validated when the stack is added.
/// </summary>
public sealed class EmbeddingResilienceOptions
{
    /// <summary>Gets or sets the timeout of a call including every retry and wait. Default 5 minutes;
    /// <see cref="Timeout.InfiniteTimeSpan"/> disables it.</summary>
    public TimeSpan TotalTimeout { get; set; } = EmbeddingResilienceDefaults.TotalTimeout;

    /// <summary>Gets the retry settings (defaults as in <see cref="EmbeddingRetryOptions"/>).</summary>
    public EmbeddingRetryOptions Retry { get; } = new();

    /// <summary>Gets the concurrency limit settings (defaults as in <see cref="EmbeddingConcurrencyOptions"/>).</summary>
    public EmbeddingConcurrencyOptions Concurrency { get; } = new();

    /// <summary>Gets or sets the token budget, or null (default) for none: budgets are per provider account.</summary>
    public EmbeddingTokenBudgetOptions? TokenBudget { get; set; }

    /// <summary>Gets the timeout of one attempt (default 60 seconds, as in <see cref="EmbeddingTimeoutOptions"/>).</summary>
    public EmbeddingTimeoutOptions AttemptTimeout { get; } = new();
}
