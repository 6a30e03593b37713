using EmbeddingKit.Postgres.Migrations;
using EmbeddingKit.TestInfrastructure.Postgres;
using Npgsql;

namespace EmbeddingKit.Postgres.Tests;

/// <summary>A test class with its own migrated schema in the shared test PostgreSQL.</summary>
public abstract class SchemaTest(PostgresServer server) : IAsyncLifetime
{
    protected PostgresServer Server { get; } = server;

    protected NpgsqlDataSource DataSource { get; private set; } = null!;

    protected string Schema { get; private set; } = null!;

    protected static CancellationToken Ct => TestContext.Current.CancellationToken;

    public virtual async ValueTask InitializeAsync()
    {
        DataSource = await Server.GetDataSourceAsync(Ct);
        Schema = PostgresServer.NewSchemaName();
        await EmbeddingKitMigrations.ApplyAsync(DataSource, Schema, Ct);
    }

    public virtual ValueTask DisposeAsync()
    {
        GC.SuppressFinalize(this);
        return ValueTask.CompletedTask;
    }

    protected async Task<T> ScalarAsync<T>(string sql)
    {
        await using var command = DataSource.CreateCommand(sql.Replace("{s}", $"\"{Schema}\"", StringComparison.Ordinal));
        return (T)(await command.ExecuteScalarAsync(Ct))!;
    }

    protected async Task ExecuteAsync(string sql)
    {
        await using var command = DataSource.CreateCommand(sql.Replace("{s}", $"\"{Schema}\"", StringComparison.Ordinal));
        await command.ExecuteNonQueryAsync(Ct);
    }
}
