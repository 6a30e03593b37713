using System.Collections.Concurrent;
using EmbeddingKit.Runtime;

namespace EmbeddingKit.Reliability.Tests.Infrastructure;

/// <summary>A hand-written document builder over a dictionary (entity id to text; missing ids are gone).</summary>
public sealed class DictionaryDocuments : IDocumentBuilder
{
    public ConcurrentDictionary<string, string> Texts { get; } = new(StringComparer.Ordinal);

    public ValueTask<IReadOnlyDictionary<string, DocumentResult>> BuildAsync(string entityType, IReadOnlyList<string> entityIds, CancellationToken cancellationToken = default)
    {
        var result = new Dictionary<string, DocumentResult>(StringComparer.Ordinal);
        foreach (var id in entityIds)
        {
            result[id] = Texts.TryGetValue(id, out var text) ? DocumentResult.Text(text) : DocumentResult.Gone;
        }

        return ValueTask.FromResult<IReadOnlyDictionary<string, DocumentResult>>(result);
    }
}
