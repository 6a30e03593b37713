using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace EmbeddingKit.Resilience;

/// <summary>
/// Keeps the tokens sent per minute within a budget: a bucket of one minute's tokens refilled continuously on the
/// injected <see cref="TimeProvider"/>. A call reserves its estimated tokens at once, going into debt if needed, and
/// waits until the debt is repaid, so callers are served in the order they came and a call larger than the whole budget
/// still goes. The reservation is corrected to the usage the response reports, and given back when the caller cancels
/// while waiting.
/// </summary>
internal sealed class TokenBudgetEmbeddingGenerator<TInput, TEmbedding> : DelegatingEmbeddingGenerator<TInput, TEmbedding>
    where TEmbedding : Embedding
{
    private readonly Func<TInput, long> _countTokens;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger _logger;
    private readonly double _capacity;
    private readonly double _tokensPerSecond;
    private readonly Lock _lock = new();
    private double _available;
    private long _stamp;

    public TokenBudgetEmbeddingGenerator(
        IEmbeddingGenerator<TInput, TEmbedding> inner, int tokensPerMinute, Func<TInput, long> countTokens, TimeProvider timeProvider, ILogger? logger)
        : base(inner)
    {
        _countTokens = countTokens;
        _timeProvider = timeProvider;
        _logger = logger ?? NullLogger.Instance;
        _capacity = tokensPerMinute;
        _tokensPerSecond = tokensPerMinute / 60.0;
        _available = _capacity;
        _stamp = timeProvider.GetTimestamp();
    }

    /// <summary>Gets the tokens that may be sent now without waiting (negative while the budget is overdrawn).</summary>
    internal double Available
    {
        get
        {
            lock (_lock)
            {
                Refill();
                return _available;
            }
        }
    }

    public override async Task<GeneratedEmbeddings<TEmbedding>> GenerateAsync(
        IEnumerable<TInput> values, EmbeddingGenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(values);
        var inputs = values as IReadOnlyCollection<TInput> ?? values.ToArray();
        long tokens = 0;
        foreach (var input in inputs)
        {
            tokens += _countTokens(input);
        }

        var wait = Reserve(tokens);
        if (wait > TimeSpan.Zero)
        {
            ResilienceLog.TokenBudgetWait(_logger, wait.TotalMilliseconds, tokens);
            try
            {
                await Task.Delay(wait, _timeProvider, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                Adjust(tokens);
                throw;
            }
        }

        var result = await base.GenerateAsync(inputs, options, cancellationToken).ConfigureAwait(false);
        if (result.Usage?.InputTokenCount is long used && used >= 0 && used != tokens)
        {
            Adjust(tokens - used);
        }

        return result;
    }

    private TimeSpan Reserve(long tokens)
    {
        lock (_lock)
        {
            Refill();
            _available -= tokens;
            return _available >= 0 ? TimeSpan.Zero : TimeSpan.FromSeconds(-_available / _tokensPerSecond);
        }
    }

    private void Adjust(long tokens)
    {
        lock (_lock)
        {
            Refill();
            _available = Math.Min(_capacity, _available + tokens);
        }
    }

    private void Refill()
    {
        var now = _timeProvider.GetTimestamp();
        var elapsed = _timeProvider.GetElapsedTime(_stamp, now);
        _stamp = now;
        _available = Math.Min(_capacity, _available + (elapsed.TotalSeconds * _tokensPerSecond));
    }
}
