using EmbeddingKit.TestInfrastructure.Postgres;

namespace EmbeddingKit.Cli.Tests;

public sealed class DemoTests(PostgresServer server) : CliTest(server)
{
    [Fact]
    public async Task Demo_SmallSample_RunsEveryStepAndReusesOnTheSecondRun()
    {
        var first = await RunAsync("demo", "--limit", "300", "--query", "database server", "--provider", "hashing");

        Assert.True(first.ExitCode == 0, first.Error);
        foreach (var step in new[] { "[1/7]", "[2/7]", "[3/7]", "[4/7]", "[5/7]", "[6/7]", "[7/7]", "demo finished" })
        {
            Assert.Contains(step, first.Out, StringComparison.Ordinal);
        }

        Assert.Contains("300 documents, 300 new or changed, 300 tasks enqueued", first.Out, StringComparison.Ordinal);
        Assert.Contains("300 embedded, 0 failed", first.Out, StringComparison.Ordinal);
        Assert.Contains(" 1. ", first.Out, StringComparison.Ordinal);
        Assert.Contains("hybrid (vectors + full text) \"database server\"", first.Out, StringComparison.Ordinal);
        Assert.Contains("hybrid, vector #", first.Out, StringComparison.Ordinal);
        Assert.Equal(300L, await ScalarAsync<long>("SELECT count(*) FROM {s}.embeddingkit_embeddings_384"));

        var second = await RunAsync("demo", "--limit", "300", "--query", "database server", "--provider", "hashing");

        Assert.True(second.ExitCode == 0, second.Error);
        Assert.Contains("300 documents, 0 new or changed, 0 tasks enqueued", second.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Demo_Default_EmbedsWithTheLocalRetrievalModelAndNamesItsSources()
    {
        var result = await RunAsync("demo", "--limit", "24", "--query", "postgresql database server");

        Assert.True(result.ExitCode == 0, result.Error);
        Assert.Contains("embedding with arctic-embed-xs (local, 384 dimensions)", result.Out, StringComparison.Ordinal);
        Assert.Contains("24 embedded, 0 failed", result.Out, StringComparison.Ordinal);
        Assert.Contains("[arctic-embed-xs, ", result.Out, StringComparison.Ordinal);
        Assert.Matches(@"24 documents \(a sample of [\d,]+\) from (apt package lists \(\d+ files?\))?(, )?(dpkg status)?", result.Out);
        Assert.DoesNotContain("_Packages", result.Out, StringComparison.Ordinal);
        Assert.Equal(24L, await ScalarAsync<long>("SELECT count(*) FROM {s}.embeddingkit_embeddings_384 WHERE model = 'arctic-embed-xs'"));

        // The demo's closing hint works as printed: search finds the active local model by name, no provider options.
        var search = await RunAsync("search", "database server", "--entity-type", "debian-package", "--json");
        Assert.True(search.ExitCode == 0, search.Error);
        Assert.Equal("arctic-embed-xs", search.Json().GetProperty("model").GetString());
    }

    [Fact]
    public async Task Demo_WithAProvider_FindsItsDimensionsAndNeverPrintsTheKey()
    {
        Fake.Dimensions = 24;

        var result = await Cli.RunAsync("demo", "--limit", "40", "--query", "database",
            "--connection", Connection, "--schema", Schema, "--base-url", Fake.BaseUrl.ToString(), "--model", "m", "--api-key", ApiKey);

        Assert.True(result.ExitCode == 0, result.Error);
        Assert.Contains("embedding with m (openai-compatible, 24 dimensions)", result.Out, StringComparison.Ordinal);
        Assert.Contains("40 embedded, 0 failed", result.Out, StringComparison.Ordinal);
        var saved = await ScalarAsync<string>("SELECT path FROM {s}.embeddingkit_model_settings WHERE model = 'm'");
        Assert.Contains($"[m, {saved}]", result.Out, StringComparison.Ordinal); // the demo searches with the setting its activation tuned
        Assert.Equal(40L, await ScalarAsync<long>("SELECT count(*) FROM {s}.embeddingkit_embeddings_24"));
        AssertNoSecret(result);
    }
}
