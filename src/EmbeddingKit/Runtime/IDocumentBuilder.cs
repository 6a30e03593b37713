namespace EmbeddingKit.Runtime;

/// <summary>
/// The host's callback that turns entities into the text to embed. Called in batches with ids of one entity type.
/// </summary>
public interface IDocumentBuilder
{
    /// <summary>Builds the document of each entity.</summary>
    /// <param name="entityType">The entity type.</param>
    /// <param name="entityIds">The ids (distinct) to build, in one batch.</param>
    /// <param name="cancellationToken">Cancels the build.</param>
    /// <returns>An entry per id: <see cref="DocumentResult.Text"/> to embed, or <see cref="DocumentResult.Gone"/> when the
    /// entity no longer exists (its stored embedding is removed). An id without an entry fails its task.</returns>
    ValueTask<IReadOnlyDictionary<string, DocumentResult>> BuildAsync(string entityType, IReadOnlyList<string> entityIds, CancellationToken cancellationToken = default);
}
