using System.Collections.Concurrent;
using EmbeddingKit.Runtime;

namespace EmbeddingKit.Hosting.Tests;

/// <summary>A host's domain in memory: entity id → text; a missing entity is gone. Counts builder calls.</summary>
public sealed class InMemoryDocuments : IDocumentBuilder
{
    public ConcurrentDictionary<string, string> Texts { get; } = new(StringComparer.Ordinal);

    /// <summary>Results given as they are (the host's own chunks, say); they win over <see cref="Texts"/>.</summary>
    public ConcurrentDictionary<string, DocumentResult> Results { get; } = new(StringComparer.Ordinal);

    private int _calls;

    public int Calls => Volatile.Read(ref _calls);

    public ValueTask<IReadOnlyDictionary<string, DocumentResult>> BuildAsync(string entityType, IReadOnlyList<string> entityIds, CancellationToken cancellationToken = default)
    {
        Interlocked.Increment(ref _calls);
        IReadOnlyDictionary<string, DocumentResult> result = entityIds.ToDictionary(
            id => id,
            id => Results.TryGetValue(id, out var result) ? result : Texts.TryGetValue(id, out var text) ? DocumentResult.Text(text) : DocumentResult.Gone,
            StringComparer.Ordinal);
        return ValueTask.FromResult(result);
    }
}
