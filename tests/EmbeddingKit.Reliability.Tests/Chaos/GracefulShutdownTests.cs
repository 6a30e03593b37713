using EmbeddingKit.Reliability.Tests.Infrastructure;
using EmbeddingKit.TestInfrastructure.Postgres;

namespace EmbeddingKit.Reliability.Tests.Chaos;

/// <summary>SIGTERM to a worker mid-batch: what it claimed is released at once, not left to lease expiry.</summary>
public sealed class GracefulShutdownTests(PostgresServer server)
{
    [Fact]
    public async Task Work_SigtermMidBatch_ReleasesClaimedTasksAtOnce()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var schema = await ChaosSchema.CreateAsync(await server.GetConnectionStringAsync(ct), ct);
        await schema.SeedAsync(64, ct);

        // A slow provider and a long lease: only a release can make the tasks ready again soon.
        schema.Provider.Latency = TimeSpan.FromSeconds(30);
        await using var worker = schema.StartWorker("terminated", leaseSeconds: 600, concurrency: 2, batchSize: 16);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (DateTime.UtcNow < deadline && (schema.Provider.RequestCount < 2 || await schema.CountAsync("SELECT count(*) FROM {tasks} WHERE lease_token IS NOT NULL", ct) < 32))
        {
            await Task.Delay(100, ct);
        }

        var leasedBefore = await schema.CountAsync("SELECT count(*) FROM {tasks} WHERE lease_token IS NOT NULL", ct);
        Assert.Equal(32, leasedBefore);
        await worker.SignalAsync("TERM");
        var exit = await worker.WaitForExitAsync(TimeSpan.FromSeconds(30));

        var leasedAfter = await schema.CountAsync("SELECT count(*) FROM {tasks} WHERE lease_token IS NOT NULL", ct);
        var attemptsUsed = await schema.CountAsync("SELECT coalesce(sum(attempts), 0) FROM {tasks}", ct);
        var readyNow = await schema.CountAsync("SELECT count(*) FROM {tasks} WHERE lease_token IS NULL AND run_at <= now()", ct);
        Figures.Report(nameof(Work_SigtermMidBatch_ReleasesClaimedTasksAtOnce), new
        {
            leased_before_sigterm = leasedBefore,
            leased_after_exit = leasedAfter,
            attempts_used = attemptsUsed,
            ready_now = readyNow,
            exit_code = exit,
        });

        Assert.Equal(130, exit);
        Assert.Contains("stopped", worker.Output, StringComparison.Ordinal);
        Assert.Equal(0, leasedAfter);
        Assert.Equal(0, attemptsUsed);
        Assert.Equal(64, readyNow);
    }
}
