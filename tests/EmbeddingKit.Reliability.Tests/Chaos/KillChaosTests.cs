using System.Diagnostics;
using EmbeddingKit.Reliability.Tests.Infrastructure;
using EmbeddingKit.TestInfrastructure.Postgres;

namespace EmbeddingKit.Reliability.Tests.Chaos;

/// <summary>
/// Several <c>embeddingkit work</c> processes drain one queue while a driver SIGKILLs a random one every ~1.5 s and
/// starts a replacement. Nothing may be lost, stuck or stale at the end.
/// </summary>
public sealed class KillChaosTests(PostgresServer server)
{
    private const int Documents = 3_000;
    private const int Workers = 3;

    [Fact]
    public async Task Work_RandomWorkersSigkilled_NothingLostStuckOrStale()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var schema = await ChaosSchema.CreateAsync(await server.GetConnectionStringAsync(ct), ct);
        await schema.SeedAsync(Documents, ct);
        schema.Provider.Latency = TimeSpan.FromMilliseconds(150);
        schema.Provider.ResetCounters();
        var random = new Random(6);
        var workers = new List<WorkerProcess>();
        var retired = new List<WorkerProcess>();
        var kills = 0;
        var started = Stopwatch.StartNew();
        try
        {
            for (var i = 0; i < Workers; i++)
            {
                workers.Add(schema.StartWorker($"worker-{i}"));
            }

            // Chaos phase: bounded in time (60 s) and in kills (40); it ends early when the queue is empty.
            var chaosDeadline = TimeSpan.FromSeconds(60);
            while (started.Elapsed < chaosDeadline && kills < 40 && await schema.OutstandingAsync(ct) > 0)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(1_000 + random.Next(1_000)), ct);
                var victim = workers[random.Next(workers.Count)];
                victim.Kill();
                kills++;
                workers.Remove(victim);
                retired.Add(victim);
                workers.Add(schema.StartWorker($"worker-{Workers + kills}"));
                Assert.All(workers, w => Assert.False(w.HasExited && w.ExitCode != 0, w.Describe()));
            }

            var chaosSeconds = started.Elapsed.TotalSeconds;
            var drained = await schema.WaitForDrainAsync(TimeSpan.FromSeconds(90), cancellationToken: ct);
            var check = await schema.CheckAsync(ct);
            Figures.Report(nameof(Work_RandomWorkersSigkilled_NothingLostStuckOrStale), new
            {
                documents = Documents,
                workers = Workers,
                kills,
                chaos_seconds = Math.Round(chaosSeconds, 1),
                total_seconds = Math.Round(started.Elapsed.TotalSeconds, 1),
                check.Vectors,
                check.Lost,
                check.StaleVectors,
                check.MissingVectors,
                check.LeasedPastExpiry,
                check.Outstanding,
                check.Dead,
                provider_requests = schema.Provider.RequestCount,
                provider_inputs = schema.Provider.InputCount,
                provider_inputs_per_task = Math.Round((double)schema.Provider.InputCount / Documents, 3),
            });

            Assert.True(kills >= 3, $"the chaos phase killed only {kills} worker(s)");
            Assert.True(drained, $"not drained: {check}; {string.Join(" | ", workers.Select(w => w.Describe()))}");
            Assert.Equal(0, check.Lost);
            Assert.Equal(0, check.LeasedPastExpiry);
            Assert.Equal(0, check.StaleVectors);
            Assert.Equal(0, check.Dead);
            Assert.Equal(Documents, check.Documents);
            Assert.Equal(Documents, check.Vectors);

            // Duplicate provider work only comes from kills: at most one claimed batch per killed worker loop.
            Assert.InRange(schema.Provider.InputCount, Documents, Documents + (kills * 2L * 16));
        }
        finally
        {
            foreach (var worker in workers.Concat(retired))
            {
                await worker.DisposeAsync();
            }
        }
    }
}
