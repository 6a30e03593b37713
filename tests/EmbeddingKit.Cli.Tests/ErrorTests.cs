using EmbeddingKit.TestInfrastructure.Postgres;

namespace EmbeddingKit.Cli.Tests;

public sealed class ErrorTests(PostgresServer server) : CliTest(server)
{
    private static void AssertOneLineError(CliResult result, int exitCode, string contains)
    {
        Assert.Equal(exitCode, result.ExitCode);
        Assert.Equal("", result.Out);
        var lines = result.Error.Trim().Split('\n');
        Assert.Single(lines);
        Assert.StartsWith("error: ", lines[0], StringComparison.Ordinal);
        Assert.Contains(contains, lines[0], StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task BadConnectionString_Exit2()
    {
        var result = await Cli.RunAsync("status", "--connection", "Hots=nowhere;;=", "--json");

        AssertOneLineError(result, 2, "bad connection string");
    }

    [Fact]
    public async Task UnreachableDatabase_Exit3()
    {
        var result = await Cli.RunAsync("status", "--connection", "Host=127.0.0.1;Port=1;Timeout=3;Username=x;Password=" + ApiKey);

        AssertOneLineError(result, 3, "cannot connect to PostgreSQL at 127.0.0.1:1");
        AssertNoSecret(result);
    }

    [Fact]
    public async Task UnknownProvider_Exit2()
    {
        var result = await RunAsync("work", "--until-idle", "--provider", "nosuch", "--model", "x", "--api-key", ApiKey);

        AssertOneLineError(result, 2, "unknown provider 'nosuch'");
        AssertNoSecret(result);
    }

    [Fact]
    public async Task BadSchema_Exit2()
    {
        var result = await Cli.RunAsync("status", "--connection", Connection, "--schema", "no\"such");

        AssertOneLineError(result, 2, "invalid --schema");
    }

    [Fact]
    public async Task UnknownModel_Exit2()
    {
        await RunAsync("ingest", WriteFile("a.jsonl", Jsonl(("a", "alpha"))), "--entity-type", "item");
        await RunAsync("work", "--until-idle");

        AssertOneLineError(await RunAsync("search", "alpha", "--entity-type", "item", "--model", "text-embedding-3-small"), 2, "unknown model 'text-embedding-3-small'");
        AssertOneLineError(await RunAsync("search", "alpha", "--entity-type", "item", "--model", "hashing-32"), 2, "unknown model 'hashing-32' for item: no vectors of it are stored; stored models: hashing-384");
    }

    [Fact]
    public async Task MissingProviderSettings_Exit2()
    {
        AssertOneLineError(await RunAsync("work", "--provider", "openai-compatible", "--model", "m"), 2, "needs --base-url");
        AssertOneLineError(await RunAsync("work", "--provider", "openai", "--model", "m"), 2, "needs --dimensions");
        AssertOneLineError(await Cli.RunAsync("embed", "x", "--provider", "azure-openai", "--model", "m"), 2, "needs --base-url");
    }

    [Fact]
    public async Task BadUsage_OneLineInsteadOfTheHelp_Exit2()
    {
        AssertOneLineError(await Cli.RunAsync("search", "text"), 2, "Option '--entity-type' is required. (see embeddingkit search --help)");
        AssertOneLineError(await Cli.RunAsync("nosuch"), 2, "nosuch");
    }

    [Fact]
    public async Task MissingFile_Exit2()
    {
        AssertOneLineError(await RunAsync("ingest", Path.Combine(Folder, "nope.jsonl"), "--entity-type", "item"), 2, "no such file or folder");
    }

    [Fact]
    public async Task WrongKey_WorkStopsWithPausedModel_AndNeverPrintsTheKey()
    {
        Fake.RequiredApiKey = "the-right-key";
        await RunFakeAsync("ingest", WriteFile("a.jsonl", Jsonl(("a", "alpha"))), "--entity-type", "item");

        var result = await RunFakeAsync("work", "--until-idle", "--json");

        Assert.Equal(4, result.ExitCode);
        Assert.Contains("paused", result.Error, StringComparison.Ordinal);
        Assert.Equal("", result.Out);
        AssertNoSecret(result);
    }

    [Fact]
    public async Task Verbose_ShowsTheStackTrace()
    {
        var result = await Cli.RunAsync("status", "--connection", "Host=127.0.0.1;Port=1;Timeout=3", "--verbose");

        Assert.Equal(3, result.ExitCode);
        Assert.Contains("   at ", result.Error, StringComparison.Ordinal);
    }
}
