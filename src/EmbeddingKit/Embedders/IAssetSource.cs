namespace EmbeddingKit.Embedders;

/// <summary>
/// The host's callback that turns entities into what a multimodal embedder needs. EmbeddingKit never fetches a URL
/// by itself: the host loads images from its own storage (with its own credentials, limits and caching) and hands the
/// bytes over; for URLs from users or other systems, <c>EmbeddingKit.OpenAI.AssetFetcher</c> loads them safely.
/// </summary>
public interface IAssetSource
{
    /// <summary>Loads the multimodal input of each entity.</summary>
    /// <param name="entityType">The entity type, as used when the embedding tasks were enqueued.</param>
    /// <param name="entityIds">The ids of the entities to load.</param>
    /// <param name="cancellationToken">Cancels the loading.</param>
    /// <returns>One entry per id, in the same order: the input, or <see langword="null"/> when the entity or its
    /// assets are gone (its embedding is then removed rather than retried).</returns>
    ValueTask<IReadOnlyList<MultimodalInput?>> GetInputsAsync(
        string entityType,
        IReadOnlyList<string> entityIds,
        CancellationToken cancellationToken = default);
}
