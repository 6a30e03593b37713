using System.Text.Json;
using EmbeddingKit.Reliability.Tests.Infrastructure;
using EmbeddingKit.TestInfrastructure.Postgres;

namespace EmbeddingKit.Reliability.Tests.Chaos;

/// <summary>
/// The classic duplicate-run bug of Postgres queues: a worker paused (SIGSTOP) past its lease while another finishes
/// the task and a newer version of the entity is embedded; resumed (SIGCONT), the stalled worker must neither complete
/// the task nor overwrite the newer vector.
/// </summary>
public sealed class StalledWorkerTests(PostgresServer server)
{
    [Fact]
    public async Task Work_WorkerStalledPastLease_CannotCompleteOrOverwrite()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var schema = await ChaosSchema.CreateAsync(await server.GetConnectionStringAsync(ct), ct);
        await schema.SeedAsync(1, ct);
        var firstGeneration = await schema.CountAsync("SELECT generation FROM {tasks}", ct);

        // The stalled worker: its provider call takes 2 s, and it is stopped while the call is in flight (document
        // version 0 read, vector not yet written).
        schema.Provider.Latency = TimeSpan.FromSeconds(2);
        await using var stalled = schema.StartWorker("stalled", leaseSeconds: 3, concurrency: 1, untilIdle: true, json: true);
        Assert.True(await Until(() => Task.FromResult(schema.Provider.RequestCount >= 1), TimeSpan.FromSeconds(60)), stalled.Describe());
        await stalled.SignalAsync("STOP");
        schema.Provider.Latency = TimeSpan.Zero;

        // Its lease runs out (no heartbeat while stopped); a second worker takes the task over and finishes it ...
        Assert.True(await Until(async () => await schema.CountAsync("SELECT count(*) FROM {tasks} WHERE run_at <= now()", ct) == 1, TimeSpan.FromSeconds(30)));
        await using (var rescuer = schema.StartWorker("rescuer", untilIdle: true))
        {
            Assert.True(await rescuer.WaitForExitAsync(TimeSpan.FromSeconds(90)) == 0, rescuer.Describe());
        }

        // ... then the document changes (version 1) and is embedded again, with a newer generation.
        await schema.RewriteAsync([0], 1, ct);
        var newerGeneration = await schema.CountAsync("SELECT generation FROM {tasks}", ct);
        await using (var updater = schema.StartWorker("updater", untilIdle: true))
        {
            Assert.True(await updater.WaitForExitAsync(TimeSpan.FromSeconds(90)) == 0, updater.Describe());
        }

        var storedGeneration = await schema.CountAsync("SELECT generation FROM {vectors}", ct);
        Assert.Equal(newerGeneration, storedGeneration);

        // Resumed, the stalled worker finishes its stale batch (version 0, old generation, old lease) and exits.
        await stalled.SignalAsync("CONT");
        Assert.True(await stalled.WaitForExitAsync(TimeSpan.FromSeconds(90)) == 0, stalled.Describe());
        using var summary = JsonDocument.Parse(stalled.Output);
        var leaseLost = summary.RootElement.GetProperty("lease_lost").GetInt64();
        var completed = summary.RootElement.GetProperty("completed").GetInt64();

        var check = await schema.CheckAsync(ct);
        Figures.Report(nameof(Work_WorkerStalledPastLease_CannotCompleteOrOverwrite), new
        {
            first_generation = firstGeneration,
            newer_generation = newerGeneration,
            stored_generation_after_resume = await schema.CountAsync("SELECT generation FROM {vectors}", ct),
            stalled_completed = completed,
            stalled_lease_lost = leaseLost,
            check.StaleVectors,
            check.Outstanding,
            provider_requests = schema.Provider.RequestCount,
        });

        Assert.Equal(1, leaseLost);
        Assert.Equal(0, completed);
        Assert.Equal(newerGeneration, await schema.CountAsync("SELECT generation FROM {vectors}", ct));
        Assert.Equal(0, check.StaleVectors);
        Assert.Equal(1, check.Vectors);
        Assert.Equal(0, check.Outstanding);
        Assert.Equal(0, check.Dead);
    }

    private static async Task<bool> Until(Func<Task<bool>> condition, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (await condition())
            {
                return true;
            }

            await Task.Delay(100);
        }

        return false;
    }
}
