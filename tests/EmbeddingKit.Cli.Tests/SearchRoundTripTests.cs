using System.Diagnostics;
using EmbeddingKit.Diagnostics;
using EmbeddingKit.TestInfrastructure.Postgres;

namespace EmbeddingKit.Cli.Tests;

/// <summary>`embeddingkit search` on a warm cluster, its database round trips counted on the wire by a proxy while the
/// command's span runs (opening the host, migrations included, is not the search).</summary>
public sealed class SearchRoundTripTests(PostgresServer server) : CliTest(server)
{
    [Theory]
    [InlineData("--vector")]
    [InlineData("--hybrid")]
    [InlineData("--lexical")]
    public async Task Search_WarmCluster_StateAndSearchWithTextsInTwoRoundTrips(string mode)
    {
        var file = WriteFile("docs.jsonl", string.Join('\n',
            new[] { ("pg", "PostgreSQL object-relational database server"), ("gimp", "GNU Image Manipulation Program"), ("vim", "Vi IMproved text editor") }
                .Select(d => $$"""{"id":"{{d.Item1}}","text":"{{d.Item2}}"}""")));
        (await RunFakeAsync("ingest", file, "--entity-type", "package")).AssertSucceeded();
        (await RunFakeAsync("work", "--until-idle")).AssertSucceeded();
        await using var counter = RoundTripCounter.Start(Connection);
        var spans = new Dictionary<string, long>(StringComparer.Ordinal);
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == EmbeddingKitDiagnostics.Name,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllData,
            ActivityStarted = activity => activity.SetCustomProperty("round-trips", counter.RoundTrips),
            ActivityStopped = activity =>
            {
                lock (spans)
                {
                    spans[activity.OperationName] = counter.RoundTrips - (long)activity.GetCustomProperty("round-trips")!;
                }
            },
        };
        ActivitySource.AddActivityListener(listener);
        string[] args =
        [
            "search", "GNU Image Manipulation Program", "--entity-type", "package", "-k", "2", "--json", .. (mode == "--vector" ? Array.Empty<string>() : [mode]),
            "--connection", counter.ConnectionString, "--schema", Schema, "--provider", "openai-compatible", "--base-url", Fake.BaseUrl.ToString(),
            "--model", "m", "--dimensions", "16", "--api-key", ApiKey,
        ];
        (await Cli.RunAsync(args)).AssertSucceeded(); // warm: the schema, tables and types are there now

        var search = await Cli.RunAsync(args);

        search.AssertSucceeded();
        var hit = search.Json().GetProperty("hits")[0];
        Assert.Equal("gimp", hit.GetProperty("id").GetString());
        Assert.Equal("GNU Image Manipulation Program", hit.GetProperty("text").GetString());
        // The search itself: the active model, settings, saved fusion settings and coverage (one round trip), then the
        // vector, fused or lexical statement with its settings, BEGIN and COMMIT, joined to the documents table for the
        // hits' texts (one).
        Assert.Equal(1, spans["embeddingkit.search"]);
        Assert.Equal(2, spans["embeddingkit.cli.search"]);
    }
}
