using Npgsql;

namespace MinimalApi;

/// <summary>
/// The application's own table, <c>{schema}.articles</c>, with a generated full-text column for the lexical fallback.
/// EmbeddingKit never writes to it; it only reads it through <see cref="ArticleDocuments"/>.
/// </summary>
public sealed class ArticleStore(NpgsqlDataSource dataSource, string schema)
{
    /// <summary>The entity type articles are enqueued and searched as.</summary>
    public const string EntityType = "article";

    public string Table { get; } = $"\"{schema}\".articles";

    public NpgsqlDataSource DataSource => dataSource;

    public async Task EnsureCreatedAsync(CancellationToken cancellationToken = default)
    {
        await using var command = dataSource.CreateCommand($"""
            CREATE SCHEMA IF NOT EXISTS "{schema}";
            CREATE TABLE IF NOT EXISTS {Table} (
                id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                title text NOT NULL,
                body text NOT NULL,
                created_at timestamptz NOT NULL DEFAULT now());
            """);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>Inserts an article inside the caller's transaction and returns its id.</summary>
    public async Task<long> InsertAsync(NewArticle article, NpgsqlConnection connection, NpgsqlTransaction transaction, CancellationToken cancellationToken = default)
    {
        await using var command = new NpgsqlCommand($"INSERT INTO {Table} (title, body) VALUES ($1, $2) RETURNING id", connection, transaction);
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = article.Title });
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = article.Body });
        return (long)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    /// <summary>Reads the titles of the given ids.</summary>
    public async Task<Dictionary<long, string>> GetTitlesAsync(IEnumerable<long> ids, CancellationToken cancellationToken = default)
    {
        await using var command = dataSource.CreateCommand($"SELECT id, title FROM {Table} WHERE id = ANY($1)");
        command.Parameters.Add(new NpgsqlParameter<long[]> { TypedValue = [.. ids] });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var titles = new Dictionary<long, string>();
        while (await reader.ReadAsync(cancellationToken))
        {
            titles[reader.GetInt64(0)] = reader.GetString(1);
        }

        return titles;
    }
}
