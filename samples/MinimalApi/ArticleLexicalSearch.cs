using EmbeddingKit.Postgres.Search;
using Npgsql;

namespace MinimalApi;

/// <summary>
/// The lexical fallback: PostgreSQL full-text search over the articles table. <see cref="EmbeddingSearchService"/> mixes
/// its hits in for articles whose embedding is not stored yet (just written, still in the queue).
/// </summary>
public sealed class ArticleLexicalSearch(ArticleStore articles) : ILexicalSearch
{
    public async ValueTask<IReadOnlyList<string>> SearchAsync(string query, string entityType, int k, CancellationToken cancellationToken = default)
    {
        await using var command = articles.DataSource.CreateCommand($"""
            SELECT id::text FROM {articles.Table}
            WHERE search @@ websearch_to_tsquery('english', $1)
            ORDER BY ts_rank(search, websearch_to_tsquery('english', $1)) DESC, id DESC
            LIMIT $2
            """);
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = query });
        command.Parameters.Add(new NpgsqlParameter<int> { TypedValue = k });
        var ids = new List<string>(k);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            ids.Add(reader.GetString(0));
        }

        return ids;
    }
}
