using System.Globalization;
using System.Text.RegularExpressions;
using EmbeddingKit.Postgres.Tasks;
using EmbeddingKit.TestInfrastructure.FakeProvider;
using EmbeddingKit.TestInfrastructure.Postgres;

namespace EmbeddingKit.Samples.Tests;

public sealed partial class HangfireSampleTests(PostgresServer server)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task HangfireJob_DrainsTheQueueThroughDrainOnce_EveryTaskEmbeddedAndNoneLeft()
    {
        const int Count = 45;
        await using var provider = await FakeEmbeddingServer.StartAsync(Ct);
        var dataSource = await server.GetDataSourceAsync(Ct);
        var schema = PostgresServer.NewSchemaName("sample_hangfire");
        await using var sample = SampleProcess.Start("Hangfire", "HangfireSample", new Dictionary<string, string>
        {
            ["ConnectionStrings__EmbeddingKit"] = await server.GetConnectionStringAsync(Ct),
            ["EmbeddingKit__Schema"] = schema,
            ["EmbeddingKit__Embedder__BaseUrl"] = provider.BaseUrl.ToString(),
            ["EmbeddingKit__Embedder__Model"] = "fake-embed",
            ["EmbeddingKit__Embedder__Dimensions"] = "24",
            ["Drain__BatchSize"] = "10",
            ["Sample__SeedDocuments"] = Count.ToString(CultureInfo.InvariantCulture),
        });

        // Each job run logs what it drained; the runs together (the startup job, maybe a recurring one) drain all.
        await sample.WaitForOutputAsync(o => Completed(o) >= Count, $"Hangfire jobs complete {Count} tasks");

        var queue = new PostgresEmbeddingQueueAdmin(dataSource, schema);
        Assert.Equal(Count, Completed(sample.Output));
        Assert.DoesNotMatch(@"Drained \d+ task\(s\): \d+ completed, [1-9]", sample.Output);
        Assert.Equal(0L, await queue.CountOutstandingAsync(["fake-embed"], Ct));
        await using (var command = dataSource.CreateCommand($"SELECT count(*) FROM \"{schema}\".embeddingkit_embeddings_24 WHERE model = 'fake-embed'"))
        {
            Assert.Equal((long)Count, (long)(await command.ExecuteScalarAsync(Ct))!);
        }

        Assert.Equal(Count, provider.InputCount);
        var exitCode = await sample.StopAsync();
        Assert.True(exitCode == 0, $"exit code {exitCode}:\n{sample.Output}");
    }

    private static int Completed(string output) =>
        Drained().Matches(output).Sum(m => int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture));

    [GeneratedRegex(@"Drained \d+ task\(s\): (\d+) completed")]
    private static partial Regex Drained();
}
