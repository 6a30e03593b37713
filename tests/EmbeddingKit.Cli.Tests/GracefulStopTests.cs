using System.Diagnostics;
using EmbeddingKit.TestInfrastructure.Postgres;

namespace EmbeddingKit.Cli.Tests;

/// <summary>Runs <c>work</c> as a child process and stops it with SIGTERM, as a service manager or Ctrl-C would.</summary>
public sealed class GracefulStopTests(PostgresServer server) : CliTest(server)
{
    [Fact]
    public async Task Work_Sigterm_ReleasesTheClaimedTasksAndExits130()
    {
        await RunFakeAsync("ingest", WriteFile("docs.jsonl", Jsonl(("a", "alpha"), ("b", "beta"), ("c", "gamma"), ("d", "delta"))), "--entity-type", "item");
        Fake.Latency = TimeSpan.FromSeconds(30); // the provider call is in flight when the signal comes

        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[]
        {
            Path.Combine(AppContext.BaseDirectory, "EmbeddingKit.Cli.dll"), "work", "--batch-size", "4", "--concurrency", "1",
            "--connection", Connection, "--schema", Schema, "--provider", "openai-compatible", "--base-url", Fake.BaseUrl.ToString(),
            "--model", "m", "--dimensions", "16", "--api-key", ApiKey,
        })
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync(Ct);
        var stderr = process.StandardError.ReadToEndAsync(Ct);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(60));
        while (await ScalarAsync<long>("SELECT count(*) FROM {s}.embeddingkit_embedding_tasks WHERE lease_token IS NOT NULL") < 4 || Fake.RequestCount == 0)
        {
            if (process.HasExited)
            {
                Assert.Fail("work exited early: " + await stderr);
            }

            await Task.Delay(100, timeout.Token);
        }

        EmbeddingKit.TestInfrastructure.Processes.ChildSignals.Send(process, EmbeddingKit.TestInfrastructure.Processes.ChildSignals.Terminate);

        await process.WaitForExitAsync(timeout.Token);
        var output = await stdout + await stderr;

        Assert.Equal(130, process.ExitCode);
        Assert.Contains("stopped: 0 done", output, StringComparison.Ordinal);
        Assert.Equal(0L, await ScalarAsync<long>("SELECT count(*) FROM {s}.embeddingkit_embedding_tasks WHERE lease_token IS NOT NULL"));
        Assert.Equal(4L, await ScalarAsync<long>("SELECT count(*) FROM {s}.embeddingkit_embedding_tasks WHERE run_at <= now()"));
        Assert.DoesNotContain(ApiKey, output, StringComparison.Ordinal);
    }
}
