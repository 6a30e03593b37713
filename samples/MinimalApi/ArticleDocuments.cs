using System.Globalization;
using EmbeddingKit.Runtime;
using Npgsql;

namespace MinimalApi;

// #region document-builder
/// <summary>Turns articles into the text to embed: one query per batch; a deleted article is <see cref="DocumentResult.Gone"/>.</summary>
public sealed class ArticleDocuments(ArticleStore articles) : IDocumentBuilder
{
    public async ValueTask<IReadOnlyDictionary<string, DocumentResult>> BuildAsync(
        string entityType, IReadOnlyList<string> entityIds, CancellationToken cancellationToken = default)
    {
        var found = new Dictionary<string, DocumentResult>(entityIds.Count, StringComparer.Ordinal);
        await using var command = articles.DataSource.CreateCommand($"SELECT id::text, title || E'\n\n' || body FROM {articles.Table} WHERE id = ANY($1)");
        command.Parameters.Add(new NpgsqlParameter<long[]> { TypedValue = [.. entityIds.Select(ParseId).Where(id => id > 0)] });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            found[reader.GetString(0)] = DocumentResult.Text(reader.GetString(1));
        }

        return entityIds.ToDictionary(id => id, id => found.GetValueOrDefault(id) ?? DocumentResult.Gone, StringComparer.Ordinal);
    }

    private static long ParseId(string id) => long.TryParse(id, NumberStyles.None, CultureInfo.InvariantCulture, out var value) ? value : 0;
}
// #endregion document-builder
