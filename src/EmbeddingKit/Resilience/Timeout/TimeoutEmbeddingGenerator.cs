using Microsoft.Extensions.AI;

namespace EmbeddingKit.Resilience;

/// <summary>Cancels a call that has not completed within the timeout and fails it with a transient
/// <see cref="EmbeddingTransientException"/> (the caller's own cancellation stays an <see cref="OperationCanceledException"/>).
/// The timer runs on the injected <see cref="TimeProvider"/>.</summary>
internal sealed class TimeoutEmbeddingGenerator<TInput, TEmbedding>(IEmbeddingGenerator<TInput, TEmbedding> inner, TimeSpan timeout, TimeProvider timeProvider)
    : DelegatingEmbeddingGenerator<TInput, TEmbedding>(inner)
    where TEmbedding : Embedding
{
    public override async Task<GeneratedEmbeddings<TEmbedding>> GenerateAsync(
        IEnumerable<TInput> values, EmbeddingGenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        if (timeout == Timeout.InfiniteTimeSpan)
        {
            return await base.GenerateAsync(values, options, cancellationToken).ConfigureAwait(false);
        }

        using var timer = new CancellationTokenSource(timeout, timeProvider);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timer.Token);
        try
        {
            // WaitAsync gives up at the timeout even when the inner generator does not observe its token.
            return await base.GenerateAsync(values, options, linked.Token).WaitAsync(linked.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException ex) when (timer.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw new EmbeddingTransientException($"The embedding call did not complete within the timeout of {timeout}.", ex);
        }
    }
}
