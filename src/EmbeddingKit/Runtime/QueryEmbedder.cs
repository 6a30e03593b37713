using EmbeddingKit.Vectors;

namespace EmbeddingKit.Runtime;

/// <summary>
/// Embeds search queries: the read side of the models, apart from <see cref="EmbeddingRuntime"/>'s writes. It needs only
/// the model registry (no document builder, storage or queue), so a search-only host has just what it uses.
/// </summary>
/// <remarks>Thread-safe; share one instance.</remarks>
public sealed class QueryEmbedder
{
    /// <summary>Creates the query embedder over the models of <paramref name="models"/>.</summary>
    /// <param name="models">The models queries can be embedded with.</param>
    public QueryEmbedder(EmbeddingModelRegistry models)
    {
        ArgumentNullException.ThrowIfNull(models);
        Registry = models;
    }

    /// <summary>Gets the model registry.</summary>
    public EmbeddingModelRegistry Registry { get; }

    /// <summary>Embeds a search query with a model (its query prefix and query options applied) and returns the vector
    /// L2-normalized in fp16, as the storage holds document vectors.</summary>
    /// <param name="model">A registered model's name.</param>
    /// <param name="query">The query text.</param>
    /// <param name="cancellationToken">Cancels the provider call.</param>
    /// <exception cref="KeyNotFoundException">The model is not registered.</exception>
    /// <exception cref="EmbeddingResponseException">The provider returned a vector of the wrong length.</exception>
    public async ValueTask<Half[]> EmbedAsync(string model, string query, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(query);
        var definition = Registry.Get(model);
        var embeddings = await definition.Generator.GenerateAsync([definition.QueryPrefix + query], definition.QueryOptions, cancellationToken).ConfigureAwait(false);
        var vector = embeddings[0].Vector.Span;
        if (vector.Length != definition.Dimensions)
        {
            throw new EmbeddingResponseException($"Model '{model}' returned {vector.Length} dimensions for the query; {definition.Dimensions} are configured.") { Model = model, Retryable = false };
        }

        var result = new Half[vector.Length];
        VectorMath.NormalizeToHalf(vector, result);
        return result;
    }
}
