namespace EmbeddingKit.Resilience;

/// <summary>
/// Settings of the token budget middleware (<c>UseTokenBudget</c>): the tokens sent per minute stay within
/// <see cref="TokensPerMinute"/>. Each call reserves its estimated tokens before it starts and waits while the budget is
/// overdrawn (callers are served in order, and a call larger than the whole budget still goes, after a longer wait);
/// when the response reports its usage, the reservation is corrected to it. Validated when the middleware is added.
/// </summary>
public sealed class EmbeddingTokenBudgetOptions
{
    /// <summary>Gets or sets the tokens per minute. Default 1,000,000.</summary>
    public int TokensPerMinute { get; set; } = EmbeddingResilienceDefaults.TokensPerMinute;

    internal int Validated() => TokensPerMinute >= 1
        ? TokensPerMinute
        : throw new EmbeddingConfigurationException("Invalid token budget options: TokensPerMinute must be positive.");
}
