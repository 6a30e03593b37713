using Microsoft.Extensions.AI;

namespace EmbeddingKit.Resilience;

/// <summary>Lets at most a fixed number of calls reach the inner generator at once; the others wait (in order) until a
/// call completes or their caller cancels.</summary>
internal sealed class ConcurrencyLimitingEmbeddingGenerator<TInput, TEmbedding>(IEmbeddingGenerator<TInput, TEmbedding> inner, int maxConcurrentCalls)
    : DelegatingEmbeddingGenerator<TInput, TEmbedding>(inner)
    where TEmbedding : Embedding
{
    private readonly SemaphoreSlim _gate = new(maxConcurrentCalls, maxConcurrentCalls);

    public override async Task<GeneratedEmbeddings<TEmbedding>> GenerateAsync(
        IEnumerable<TInput> values, EmbeddingGenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return await base.GenerateAsync(values, options, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _gate.Dispose();
        }

        base.Dispose(disposing);
    }
}
