using System.Globalization;
using EmbeddingKit.TestInfrastructure.Postgres;

namespace EmbeddingKit.Cli.Tests;

/// <summary>Chunked documents through the CLI (issue 16): ingest and work with <c>--chunk-tokens</c>, status counting
/// entities and chunks apart, search printing the best chunk as the snippet.</summary>
public sealed class ChunkingTests(PostgresServer server) : CliTest(server)
{
    private static string Section(int i) =>
        string.Create(CultureInfo.InvariantCulture, $"Section {i} explains how the queue handles item number {i} with care.");

    [Fact]
    public async Task IngestWorkSearch_ChunkTokens_StoresChunksAndSearchShowsTheMatchingSpan()
    {
        var sections = Enumerable.Range(0, 12).Select(Section).ToList();
        var manual = string.Join("\n\n", sections);
        var file = WriteFile("docs.jsonl", Jsonl(("manual", manual), ("note", "A short note about vectors")));
        string[] chunking = ["--chunk-tokens", "20", "--chunk-overlap", "0"];

        Assert.Equal(2, (await RunAsync(["ingest", file, "--entity-type", "doc", "--json", .. chunking])).Json().GetProperty("enqueued").GetInt32());
        Assert.Equal(0, (await RunAsync(["work", "--until-idle", "--json", .. chunking])).Json().GetProperty("outstanding").GetInt64());

        var model = (await RunAsync("status", "--json")).Json().GetProperty("entity_types")[0].GetProperty("models")[0];
        Assert.Equal(2, model.GetProperty("stored").GetInt64());
        var chunks = model.GetProperty("chunks").GetInt64();
        Assert.True(chunks > 2, $"chunks: {chunks}");
        Assert.Equal(1.0, model.GetProperty("coverage").GetDouble());

        var query = sections[9];
        var hit = (await RunAsync("search", query, "--entity-type", "doc", "-k", "2", "--json")).Json().GetProperty("hits")[0];
        Assert.Equal("manual", hit.GetProperty("id").GetString());
        Assert.True(hit.GetProperty("chunk").GetInt32() > 0);
        var snippet = manual.Substring(hit.GetProperty("snippet_start").GetInt32(), hit.GetProperty("snippet_length").GetInt32());
        Assert.Contains(query, snippet, StringComparison.Ordinal);
        Assert.DoesNotContain(sections[0], snippet, StringComparison.Ordinal);

        var printed = await RunAsync("search", query, "--entity-type", "doc", "-k", "1");
        printed.AssertSucceeded();
        Assert.Contains("Section 9 explains", printed.Out, StringComparison.Ordinal);
        Assert.DoesNotContain("Section 0 explains", printed.Out, StringComparison.Ordinal);
    }
}
