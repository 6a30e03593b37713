using System.Globalization;
using EmbeddingKit.Postgres;
using Npgsql;

namespace EmbeddingKit.Cli.Infrastructure;

/// <summary>What the embedding tables of the schema hold (<c>embeddingkit_embeddings_{K}</c>): vectors per entity type and model.</summary>
internal static class StoredVectors
{
    /// <summary>One (entity type, model) group of stored vectors.</summary>
    public sealed record Group(string EntityType, string Model, int Dimensions, string Table, long Count);

    public static async Task<List<Group>> CountAsync(NpgsqlDataSource dataSource, string schema, CancellationToken cancellationToken)
    {
        var tables = new List<(string Name, int Dimensions)>();
        await using (var command = dataSource.CreateCommand("""
            SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND c.relname ~ '^embeddingkit_embeddings_[0-9]+$'
            ORDER BY c.relname
            """))
        {
            command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = schema });
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                var name = reader.GetString(0);
                tables.Add((name, int.Parse(name.AsSpan("embeddingkit_embeddings_".Length), CultureInfo.InvariantCulture)));
            }
        }

        var groups = new List<Group>();
        foreach (var (name, dimensions) in tables)
        {
            var qualified = PostgresIdentifier.Qualify(schema, name);
            await using var command = dataSource.CreateCommand($"SELECT entity_type, model, count(*) FROM {qualified} GROUP BY entity_type, model ORDER BY 1, 2");
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                groups.Add(new Group(reader.GetString(0), reader.GetString(1), dimensions, qualified, reader.GetInt64(2)));
            }
        }

        return groups;
    }
}
