using System.Diagnostics;
using System.Text.Json;
using EmbeddingKit.TestInfrastructure.Postgres;

namespace EmbeddingKit.Cli.Tests;

/// <summary>Several <c>work</c> processes on one database share the queue without doing anything twice.</summary>
public sealed class ConcurrentWorkersTests(PostgresServer server) : CliTest(server)
{
    [Fact]
    public async Task Work_TwoProcessesUntilIdle_ShareTheQueueAndBothExit0()
    {
        var documents = Enumerable.Range(0, 300).Select(i => ($"p{i:D3}", $"package {i} does thing {i % 11}")).ToArray();
        Assert.Equal(300, (await RunAsync("ingest", WriteFile("docs.jsonl", Jsonl(documents)), "--entity-type", "item", "--json")).Json().GetProperty("enqueued").GetInt32());

        var workers = Enumerable.Range(0, 2).Select(_ => RunChildAsync("work", "--until-idle", "--batch-size", "10", "--json", "--connection", Connection, "--schema", Schema)).ToList();
        var results = await Task.WhenAll(workers);

        Assert.All(results, r => Assert.True(r.ExitCode == 0, r.Error));
        var completed = results.Select(r => JsonDocument.Parse(r.Out).RootElement.GetProperty("completed").GetInt64()).ToList();
        Assert.Equal(300, completed.Sum());
        Assert.Equal(300L, await ScalarAsync<long>("SELECT count(*) FROM {s}.embeddingkit_embeddings_384"));
        Assert.Equal(0L, await ScalarAsync<long>("SELECT count(*) FROM {s}.embeddingkit_embedding_tasks"));
        Assert.Equal(2L, await ScalarAsync<long>("SELECT count(*) FROM pg_indexes WHERE schemaname = '" + Schema + "' AND indexname LIKE '%hashing_384%'"));
    }

    [Fact]
    public async Task Migrate_ThreeProcessesOnANewSchema_AllSucceed()
    {
        var results = await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => RunChildAsync("status", "--json", "--connection", Connection, "--schema", Schema)));

        Assert.All(results, r => Assert.True(r.ExitCode == 0, r.Error));
        Assert.Equal(1L, await ScalarAsync<long>("SELECT count(*) FROM pg_tables WHERE schemaname = '" + Schema + "' AND tablename = 'embeddingkit_documents'"));
    }

    private static async Task<CliResult> RunChildAsync(params string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "EmbeddingKit.Cli.dll"));
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync(Ct);
        var stderr = process.StandardError.ReadToEndAsync(Ct);
        await process.WaitForExitAsync(Ct);
        return new CliResult(process.ExitCode, await stdout, await stderr);
    }
}
