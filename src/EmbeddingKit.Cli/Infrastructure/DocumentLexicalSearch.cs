using EmbeddingKit.Postgres.Search;
using Npgsql;

namespace EmbeddingKit.Cli.Infrastructure;

/// <summary>
/// The CLI's lexical fallback for entities the active model has not embedded yet: PostgreSQL full-text search
/// (<c>simple</c> configuration, any query word) over the documents table.
/// </summary>
internal sealed class DocumentLexicalSearch : ILexicalSearch
{
    private readonly NpgsqlDataSource _dataSource;
    private readonly string _table;

    public DocumentLexicalSearch(NpgsqlDataSource dataSource, DocumentStore documents)
    {
        _dataSource = dataSource;
        _table = documents.QualifiedName;
    }

    public async ValueTask<IReadOnlyList<string>> SearchAsync(string query, string entityType, int k, CancellationToken cancellationToken = default)
    {
        await using var command = _dataSource.CreateCommand($"""
            WITH q AS (SELECT nullif(replace(plainto_tsquery('simple', $2)::text, '&', '|'), '')::tsquery AS q)
            SELECT d.id FROM {_table} d, q
            WHERE d.entity_type = $1 AND q.q IS NOT NULL AND to_tsvector('simple', d.text) @@ q.q
            ORDER BY ts_rank(to_tsvector('simple', d.text), q.q) DESC, d.id
            LIMIT $3
            """);
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = entityType });
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
