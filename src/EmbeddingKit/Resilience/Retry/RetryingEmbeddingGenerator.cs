using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Polly;
using Polly.Retry;

namespace EmbeddingKit.Resilience;

/// <summary>Retries transient failures with a Polly retry strategy: exponential backoff with jitter, the provider's
/// wait when it asked for one (up to <see cref="EmbeddingRetryOptions.MaxRetryAfter"/>; a longer wait goes to the
/// caller unretried). Time comes from the injected <see cref="TimeProvider"/>.</summary>
internal sealed class RetryingEmbeddingGenerator<TInput, TEmbedding> : DelegatingEmbeddingGenerator<TInput, TEmbedding>
    where TEmbedding : Embedding
{
    private readonly ResiliencePipeline _pipeline;

    public RetryingEmbeddingGenerator(IEmbeddingGenerator<TInput, TEmbedding> inner, EmbeddingRetryOptions options, TimeProvider timeProvider, ILogger? logger)
        : base(inner)
    {
        _pipeline = BuildPipeline(options, timeProvider, logger ?? NullLogger.Instance);
    }

    public override Task<GeneratedEmbeddings<TEmbedding>> GenerateAsync(
        IEnumerable<TInput> values, EmbeddingGenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(values);

        // Materialized once: every attempt sends the same inputs, even when the caller passed a lazy sequence.
        var inputs = values as IReadOnlyCollection<TInput> ?? values.ToArray();
        return _pipeline.ExecuteAsync(
            static (state, token) => new ValueTask<GeneratedEmbeddings<TEmbedding>>(state.Self.InnerGenerator.GenerateAsync(state.Inputs, state.Options, token)),
            (Self: this, Inputs: (IEnumerable<TInput>)inputs, Options: options),
            cancellationToken).AsTask();
    }

    /// <summary>The Polly pipeline of a retry middleware; also used by EmbeddingKit's own clients.</summary>
    internal static ResiliencePipeline BuildPipeline(EmbeddingRetryOptions options, TimeProvider timeProvider, ILogger logger)
    {
        var builder = new ResiliencePipelineBuilder { TimeProvider = timeProvider };
        if (options.MaxAttempts <= 1)
        {
            return builder.Build();
        }

        var shouldRetry = options.ShouldRetry ?? TransientFailure.IsTransient;
        var maxRetryAfter = options.MaxRetryAfter;
        var onRetry = options.OnRetry;
        builder.AddRetry(new RetryStrategyOptions
        {
            ShouldHandle = args => ValueTask.FromResult(args.Outcome.Exception is { } e
                && e is not OperationCanceledException
                && shouldRetry(e)
                && !(TransientFailure.RequestedWait(e) > maxRetryAfter)),
            MaxRetryAttempts = options.MaxAttempts - 1,
            BackoffType = DelayBackoffType.Exponential,
            UseJitter = options.UseJitter,
            Delay = options.BaseDelay,
            MaxDelay = options.MaxDelay,
            DelayGenerator = args => ValueTask.FromResult(
                args.Outcome.Exception is { } e && TransientFailure.RequestedWait(e) is { } wait ? (TimeSpan?)wait : null),
            OnRetry = args =>
            {
                if (args.Outcome.Exception is { } error)
                {
                    onRetry?.Invoke(error, args.AttemptNumber + 2, args.RetryDelay);
                }

                if (logger.IsEnabled(LogLevel.Warning))
                {
                    ResilienceLog.RetryScheduled(logger, args.Outcome.Exception?.Message ?? "failure", args.AttemptNumber + 2, args.RetryDelay.TotalMilliseconds);
                }

                return default;
            },
        });
        return builder.Build();
    }
}
