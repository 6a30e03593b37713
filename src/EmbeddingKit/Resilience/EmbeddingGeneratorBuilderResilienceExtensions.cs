using EmbeddingKit;
using EmbeddingKit.Resilience;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Microsoft.Extensions.AI;

/// <summary>
/// Adds EmbeddingKit's resilience middleware to an <see cref="EmbeddingGeneratorBuilder{TInput, TEmbedding}"/>, so any
/// <see cref="IEmbeddingGenerator{TInput, TEmbedding}"/> gets retries, timeouts, a concurrency limit and a token budget.
/// As everywhere in Microsoft.Extensions.AI, the first <c>Use…</c> is the outermost. Options are validated here (an
/// invalid setting throws <see cref="EmbeddingConfigurationException"/> at once). Time comes from the given
/// <see cref="TimeProvider"/>, else the service provider's, else <see cref="TimeProvider.System"/>; logs go to the service
/// provider's <see cref="ILoggerFactory"/> when it has one.
/// </summary>
public static class EmbeddingGeneratorBuilderResilienceExtensions
{
    /// <summary>Adds the whole stack, outermost first: total timeout, retry, concurrency limit, token budget (when set),
    /// per-attempt timeout. Token counts of a budget are estimated as UTF-8 bytes / 3 and corrected by the usage each
    /// response reports.</summary>
    /// <typeparam name="TEmbedding">The embedding type.</typeparam>
    /// <param name="builder">The builder.</param>
    /// <param name="configure">Adjusts the defaults (see <see cref="EmbeddingResilienceOptions"/>).</param>
    /// <param name="timeProvider">The clock, or null for the service provider's or the system's.</param>
    /// <returns>The builder.</returns>
    public static EmbeddingGeneratorBuilder<string, TEmbedding> UseResilience<TEmbedding>(
        this EmbeddingGeneratorBuilder<string, TEmbedding> builder, Action<EmbeddingResilienceOptions>? configure = null, TimeProvider? timeProvider = null)
        where TEmbedding : Embedding =>
        builder.UseResilience(TokenEstimate.Of, configure, timeProvider);

    /// <summary>Adds the whole stack, outermost first: total timeout, retry, concurrency limit, token budget (when set),
    /// per-attempt timeout.</summary>
    /// <typeparam name="TInput">The input type.</typeparam>
    /// <typeparam name="TEmbedding">The embedding type.</typeparam>
    /// <param name="builder">The builder.</param>
    /// <param name="countTokens">The tokens of one input, for the token budget.</param>
    /// <param name="configure">Adjusts the defaults (see <see cref="EmbeddingResilienceOptions"/>).</param>
    /// <param name="timeProvider">The clock, or null for the service provider's or the system's.</param>
    /// <returns>The builder.</returns>
    public static EmbeddingGeneratorBuilder<TInput, TEmbedding> UseResilience<TInput, TEmbedding>(
        this EmbeddingGeneratorBuilder<TInput, TEmbedding> builder, Func<TInput, long> countTokens, Action<EmbeddingResilienceOptions>? configure = null,
        TimeProvider? timeProvider = null)
        where TEmbedding : Embedding
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(countTokens);
        var options = new EmbeddingResilienceOptions();
        configure?.Invoke(options);
        var total = new EmbeddingTimeoutOptions { Timeout = options.TotalTimeout }.Validated();
        var retry = options.Retry.Validated();
        var concurrency = options.Concurrency.Validated();
        var budget = options.TokenBudget?.Validated();
        var attempt = options.AttemptTimeout.Validated();

        builder.Use((inner, services) => new TimeoutEmbeddingGenerator<TInput, TEmbedding>(inner, total, Clock(services, timeProvider)));
        builder.Use((inner, services) => new RetryingEmbeddingGenerator<TInput, TEmbedding>(inner, retry, Clock(services, timeProvider), Logger(services)));
        builder.Use(inner => new ConcurrencyLimitingEmbeddingGenerator<TInput, TEmbedding>(inner, concurrency));
        if (budget is int tokensPerMinute)
        {
            builder.Use((inner, services) => new TokenBudgetEmbeddingGenerator<TInput, TEmbedding>(inner, tokensPerMinute, countTokens, Clock(services, timeProvider), Logger(services)));
        }

        return builder.Use((inner, services) => new TimeoutEmbeddingGenerator<TInput, TEmbedding>(inner, attempt, Clock(services, timeProvider)));
    }

    /// <summary>Retries transient failures with exponential backoff and jitter, honouring the provider's requested wait
    /// up to <see cref="EmbeddingRetryOptions.MaxRetryAfter"/> (a longer one goes to the caller).</summary>
    /// <typeparam name="TInput">The input type.</typeparam>
    /// <typeparam name="TEmbedding">The embedding type.</typeparam>
    /// <param name="builder">The builder.</param>
    /// <param name="configure">Adjusts the defaults (see <see cref="EmbeddingRetryOptions"/>).</param>
    /// <param name="timeProvider">The clock, or null for the service provider's or the system's.</param>
    /// <returns>The builder.</returns>
    public static EmbeddingGeneratorBuilder<TInput, TEmbedding> UseRetry<TInput, TEmbedding>(
        this EmbeddingGeneratorBuilder<TInput, TEmbedding> builder, Action<EmbeddingRetryOptions>? configure = null, TimeProvider? timeProvider = null)
        where TEmbedding : Embedding
    {
        ArgumentNullException.ThrowIfNull(builder);
        var options = new EmbeddingRetryOptions();
        configure?.Invoke(options);
        var validated = options.Validated();
        return builder.Use((inner, services) => new RetryingEmbeddingGenerator<TInput, TEmbedding>(inner, validated, Clock(services, timeProvider), Logger(services)));
    }

    /// <summary>Fails a call that has not completed within the timeout with a transient
    /// <see cref="EmbeddingTransientException"/>. Inside <c>UseRetry</c> it times each attempt; outside, the whole call.</summary>
    /// <typeparam name="TInput">The input type.</typeparam>
    /// <typeparam name="TEmbedding">The embedding type.</typeparam>
    /// <param name="builder">The builder.</param>
    /// <param name="configure">Adjusts the defaults (see <see cref="EmbeddingTimeoutOptions"/>).</param>
    /// <param name="timeProvider">The clock, or null for the service provider's or the system's.</param>
    /// <returns>The builder.</returns>
    public static EmbeddingGeneratorBuilder<TInput, TEmbedding> UseTimeout<TInput, TEmbedding>(
        this EmbeddingGeneratorBuilder<TInput, TEmbedding> builder, Action<EmbeddingTimeoutOptions>? configure = null, TimeProvider? timeProvider = null)
        where TEmbedding : Embedding
    {
        ArgumentNullException.ThrowIfNull(builder);
        var options = new EmbeddingTimeoutOptions();
        configure?.Invoke(options);
        var timeout = options.Validated();
        return builder.Use((inner, services) => new TimeoutEmbeddingGenerator<TInput, TEmbedding>(inner, timeout, Clock(services, timeProvider)));
    }

    /// <summary>Lets at most <see cref="EmbeddingConcurrencyOptions.MaxConcurrentCalls"/> calls reach the inner generator
    /// at once, across every caller of the built generator.</summary>
    /// <typeparam name="TInput">The input type.</typeparam>
    /// <typeparam name="TEmbedding">The embedding type.</typeparam>
    /// <param name="builder">The builder.</param>
    /// <param name="configure">Adjusts the defaults (see <see cref="EmbeddingConcurrencyOptions"/>).</param>
    /// <returns>The builder.</returns>
    public static EmbeddingGeneratorBuilder<TInput, TEmbedding> UseConcurrencyLimit<TInput, TEmbedding>(
        this EmbeddingGeneratorBuilder<TInput, TEmbedding> builder, Action<EmbeddingConcurrencyOptions>? configure = null)
        where TEmbedding : Embedding
    {
        ArgumentNullException.ThrowIfNull(builder);
        var options = new EmbeddingConcurrencyOptions();
        configure?.Invoke(options);
        var limit = options.Validated();
        return builder.Use(inner => new ConcurrencyLimitingEmbeddingGenerator<TInput, TEmbedding>(inner, limit));
    }

    /// <summary>Keeps the tokens sent per minute within <see cref="EmbeddingTokenBudgetOptions.TokensPerMinute"/>, counting
    /// a text as UTF-8 bytes / 3 until the response reports its usage.</summary>
    /// <typeparam name="TEmbedding">The embedding type.</typeparam>
    /// <param name="builder">The builder.</param>
    /// <param name="configure">Adjusts the defaults (see <see cref="EmbeddingTokenBudgetOptions"/>).</param>
    /// <param name="timeProvider">The clock, or null for the service provider's or the system's.</param>
    /// <returns>The builder.</returns>
    public static EmbeddingGeneratorBuilder<string, TEmbedding> UseTokenBudget<TEmbedding>(
        this EmbeddingGeneratorBuilder<string, TEmbedding> builder, Action<EmbeddingTokenBudgetOptions>? configure = null, TimeProvider? timeProvider = null)
        where TEmbedding : Embedding =>
        builder.UseTokenBudget(TokenEstimate.Of, configure, timeProvider);

    /// <summary>Keeps the tokens sent per minute within <see cref="EmbeddingTokenBudgetOptions.TokensPerMinute"/>.</summary>
    /// <typeparam name="TInput">The input type.</typeparam>
    /// <typeparam name="TEmbedding">The embedding type.</typeparam>
    /// <param name="builder">The builder.</param>
    /// <param name="countTokens">The tokens of one input (an estimate is fine: the usage a response reports corrects it).</param>
    /// <param name="configure">Adjusts the defaults (see <see cref="EmbeddingTokenBudgetOptions"/>).</param>
    /// <param name="timeProvider">The clock, or null for the service provider's or the system's.</param>
    /// <returns>The builder.</returns>
    public static EmbeddingGeneratorBuilder<TInput, TEmbedding> UseTokenBudget<TInput, TEmbedding>(
        this EmbeddingGeneratorBuilder<TInput, TEmbedding> builder, Func<TInput, long> countTokens, Action<EmbeddingTokenBudgetOptions>? configure = null,
        TimeProvider? timeProvider = null)
        where TEmbedding : Embedding
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(countTokens);
        var options = new EmbeddingTokenBudgetOptions();
        configure?.Invoke(options);
        var tokensPerMinute = options.Validated();
        return builder.Use((inner, services) => new TokenBudgetEmbeddingGenerator<TInput, TEmbedding>(inner, tokensPerMinute, countTokens, Clock(services, timeProvider), Logger(services)));
    }

    private static TimeProvider Clock(IServiceProvider services, TimeProvider? timeProvider) =>
        timeProvider ?? services.GetService<TimeProvider>() ?? TimeProvider.System;

    private static ILogger? Logger(IServiceProvider services) =>
        services.GetService<ILoggerFactory>()?.CreateLogger("EmbeddingKit.Resilience");
}
