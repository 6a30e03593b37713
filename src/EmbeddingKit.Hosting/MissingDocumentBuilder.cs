using EmbeddingKit.Runtime;

namespace EmbeddingKit.Hosting;

/// <summary>The runtime's document builder when the host registered none: a host that only searches (or enqueues) needs
/// none; building a document then says what is missing.</summary>
internal sealed class MissingDocumentBuilder : IDocumentBuilder
{
    public static MissingDocumentBuilder Instance { get; } = new();

    public ValueTask<IReadOnlyDictionary<string, DocumentResult>> BuildAsync(string entityType, IReadOnlyList<string> entityIds, CancellationToken cancellationToken = default) =>
        throw new InvalidOperationException("No document builder is registered: call UseDocumentBuilder(...) on AddEmbeddingKit to process embedding tasks.");
}
