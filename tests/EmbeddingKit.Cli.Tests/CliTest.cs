using EmbeddingKit.TestInfrastructure.FakeProvider;
using EmbeddingKit.TestInfrastructure.Postgres;
using Npgsql;

namespace EmbeddingKit.Cli.Tests;

/// <summary>A test class with its own schema in the test PostgreSQL, a fake provider, and helpers to run commands against both.</summary>
public abstract class CliTest(PostgresServer server) : IAsyncLifetime
{
    public const string ApiKey = "sk-test-4f1c9a7e-never-print-me";

    protected PostgresServer Server { get; } = server;

    protected string Connection { get; private set; } = null!;

    protected string Schema { get; private set; } = null!;

    protected FakeEmbeddingServer Fake { get; private set; } = null!;

    protected string Folder { get; private set; } = null!;

    protected static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        Connection = await Server.GetConnectionStringAsync(Ct);
        Schema = PostgresServer.NewSchemaName("cli");
        Fake = await FakeEmbeddingServer.StartAsync(Ct);
        Folder = Directory.CreateTempSubdirectory("embeddingkit-cli-tests-").FullName;
    }

    public async ValueTask DisposeAsync()
    {
        await Fake.DisposeAsync();
        Directory.Delete(Folder, recursive: true);
        GC.SuppressFinalize(this);
    }

    /// <summary>Runs a command against this class's schema with the default (offline hashing) provider.</summary>
    protected Task<CliResult> RunAsync(params string[] args) => Cli.RunAsync([.. args, "--connection", Connection, "--schema", Schema]);

    /// <summary>Runs a command against this class's schema with the fake OpenAI-compatible provider (model m, 16 dimensions).</summary>
    protected Task<CliResult> RunFakeAsync(params string[] args) => Cli.RunAsync(
        [.. args, "--connection", Connection, "--schema", Schema, "--provider", "openai-compatible", "--base-url", Fake.BaseUrl.ToString(), "--model", "m", "--dimensions", "16", "--api-key", ApiKey]);

    protected string WriteFile(string name, string content)
    {
        var path = Path.Combine(Folder, name);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, content);
        return path;
    }

    protected async Task<T> ScalarAsync<T>(string sql)
    {
        var dataSource = await Server.GetDataSourceAsync(Ct);
        await using var command = dataSource.CreateCommand(sql.Replace("{s}", $"\"{Schema}\"", StringComparison.Ordinal));
        return (T)(await command.ExecuteScalarAsync(Ct))!;
    }

    protected async Task ExecuteAsync(string sql)
    {
        var dataSource = await Server.GetDataSourceAsync(Ct);
        await using var command = dataSource.CreateCommand(sql.Replace("{s}", $"\"{Schema}\"", StringComparison.Ordinal));
        await command.ExecuteNonQueryAsync(Ct);
    }

    protected static string Jsonl(params (string Id, string Text)[] documents) =>
        string.Join('\n', documents.Select(d => System.Text.Json.JsonSerializer.Serialize(new { id = d.Id, text = d.Text, source = "test" }))) + "\n";

    protected static void AssertNoSecret(CliResult result) => Assert.DoesNotContain(ApiKey, result.All, StringComparison.Ordinal);

    protected NpgsqlConnectionStringBuilder ConnectionBuilder => new(Connection);
}
