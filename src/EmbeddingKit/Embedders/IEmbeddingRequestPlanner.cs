using Microsoft.Extensions.AI;

namespace EmbeddingKit.Embedders;

/// <summary>
/// How a text generator splits inputs into provider requests (inputs and tokens per request). A generator that sends
/// more than one request per call offers it through <see cref="IEmbeddingGenerator.GetService"/> (middleware built on
/// <see cref="DelegatingEmbeddingGenerator{TInput, TEmbedding}"/> passes it through). The runtime then makes each
/// generator call exactly one planned request: inputs are grouped once, by the party that knows the provider's limits,
/// and a request the provider refuses fails (and is bisected) alone, without cancelling or re-sending its siblings.
/// </summary>
public interface IEmbeddingRequestPlanner
{
    /// <summary>Plans the requests that <c>GenerateAsync(inputs, options)</c> would send.</summary>
    /// <param name="inputs">The texts, as they would be passed to the generator.</param>
    /// <param name="options">The generation options of the call (its model decides the token count), or null.</param>
    /// <returns>Contiguous ranges of <paramref name="inputs"/>, in order, covering every input once; each range is
    /// one request, which the generator sends as it is when it is given just that range.</returns>
    IReadOnlyList<Range> PlanRequests(IReadOnlyList<string> inputs, EmbeddingGenerationOptions? options = null);
}
