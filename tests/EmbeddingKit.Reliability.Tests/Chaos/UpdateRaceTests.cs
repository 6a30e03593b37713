using System.Diagnostics;
using EmbeddingKit.Reliability.Tests.Infrastructure;
using EmbeddingKit.TestInfrastructure.Postgres;

namespace EmbeddingKit.Reliability.Tests.Chaos;

/// <summary>Entities rewritten (and re-enqueued) while worker processes embed them: the last text always wins.</summary>
public sealed class UpdateRaceTests(PostgresServer server)
{
    private const int Documents = 1_000;

    [Fact]
    public async Task Work_EntitiesRewrittenWhileEmbedding_EveryVectorMatchesLatestText()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var schema = await ChaosSchema.CreateAsync(await server.GetConnectionStringAsync(ct), ct);
        await schema.SeedAsync(Documents, ct);
        schema.Provider.Latency = TimeSpan.FromMilliseconds(100);
        var workers = Enumerable.Range(0, 3).Select(i => schema.StartWorker($"worker-{i}")).ToList();
        var random = new Random(4);
        var versions = new int[Documents];
        var rewrites = 0;
        var rounds = 0;
        var watch = Stopwatch.StartNew();
        try
        {
            // Writer: 40 random documents rewritten every ~100 ms, for at most 12 s or 120 rounds.
            while (rounds < 120 && watch.Elapsed < TimeSpan.FromSeconds(12))
            {
                var ids = Enumerable.Range(0, 40).Select(_ => random.Next(Documents)).Distinct().ToList();
                foreach (var group in ids.GroupBy(id => versions[id] + 1))
                {
                    await schema.RewriteAsync([.. group], group.Key, ct);
                }

                foreach (var id in ids)
                {
                    versions[id]++;
                }

                rewrites += ids.Count;
                rounds++;
                await Task.Delay(100, ct);
            }

            var drained = await schema.WaitForDrainAsync(TimeSpan.FromSeconds(90), workers, ct);
            var check = await schema.CheckAsync(ct);
            Figures.Report(nameof(Work_EntitiesRewrittenWhileEmbedding_EveryVectorMatchesLatestText), new
            {
                documents = Documents,
                workers = workers.Count,
                rounds,
                rewrites,
                documents_rewritten = versions.Count(v => v > 0),
                highest_version = versions.Max(),
                check.Vectors,
                check.StaleVectors,
                check.Lost,
                check.Outstanding,
                check.Dead,
                provider_inputs = schema.Provider.InputCount,
            });

            Assert.True(drained, $"not drained: {check}; {string.Join(" | ", workers.Select(w => w.Describe()))}");
            Assert.All(workers, w => Assert.False(w.HasExited, w.Describe()));
            Assert.True(rewrites > 0);
            Assert.Equal(0, check.StaleVectors);
            Assert.Equal(0, check.Lost);
            Assert.Equal(0, check.Dead);
            Assert.Equal(Documents, check.Vectors);
        }
        finally
        {
            foreach (var worker in workers)
            {
                await worker.DisposeAsync();
            }
        }
    }
}
