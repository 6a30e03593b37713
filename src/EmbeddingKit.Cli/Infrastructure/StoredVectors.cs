using System.Globalization;
using EmbeddingKit.Postgres;
using Npgsql;

namespace EmbeddingKit.Cli.Infrastructure;

/// <summary>What the embedding tables of the schema hold (<c>embeddingkit_embeddings_{K}</c>): vectors per entity type and model.</summary>
internal static class StoredVectors
{
    /// <summary>One (entity type, model) group of stored vectors: <paramref name="Count"/> entities (coverage is by
    /// entity) in <paramref name="Chunks"/> rows (an unchunked entity is one row).</summary>
    public sealed record Group(string EntityType, string Model, int Dimensions, string Table, long Count, long Chunks);

    public static async Task<List<Group>> CountAsync(NpgsqlDataSource dataSource, string schema, CancellationToken cancellationToken)
    {
        List<(string Qualified, int Dimensions)> tables;
        await using (var connection = await dataSource.OpenConnectionAsync(cancellationToken))
        {
            tables = await ListTablesAsync(connection, null, schema, cancellationToken);
        }

        var groups = new List<Group>();
        foreach (var (qualified, dimensions) in tables)
        {
            // Composed per call: one statement per embedding table the schema holds now.
            await using var command = dataSource.CreateCommand($"SELECT entity_type, model, count(*) FILTER (WHERE chunk = 0), count(*) FROM {qualified} GROUP BY entity_type, model ORDER BY 1, 2");
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                groups.Add(new Group(reader.GetString(0), reader.GetString(1), dimensions, qualified, reader.GetInt64(2), reader.GetInt64(3)));
            }
        }

        return groups;
    }

    /// <summary>The embedding tables of the schema, qualified and quoted, with their dimensions.</summary>
    public static async Task<List<(string Qualified, int Dimensions)>> ListTablesAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, string schema, CancellationToken cancellationToken)
    {
        var tables = new List<(string Qualified, int Dimensions)>();
        await using var command = new NpgsqlCommand(Sql.ListTables, connection, transaction);
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = schema });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            var name = reader.GetString(0);
            tables.Add((PostgresIdentifier.Qualify(schema, name), int.Parse(name.AsSpan("embeddingkit_embeddings_".Length), CultureInfo.InvariantCulture)));
        }

        return tables;
    }

    /// <summary>The statement that finds the embedding tables (constant text; the schema is a parameter).</summary>
    private static class Sql
    {
        public const string ListTables = """
            SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND c.relname ~ '^embeddingkit_embeddings_[0-9]+$'
            ORDER BY c.relname
            """;
    }
}
