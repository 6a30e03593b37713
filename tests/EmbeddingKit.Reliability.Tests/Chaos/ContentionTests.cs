using System.Collections.Concurrent;
using EmbeddingKit.Postgres.Migrations;
using EmbeddingKit.Postgres.Tasks;
using EmbeddingKit.Reliability.Tests.Infrastructure;
using EmbeddingKit.Tasks;
using EmbeddingKit.TestInfrastructure.Postgres;
using Npgsql;

namespace EmbeddingKit.Reliability.Tests.Chaos;

/// <summary>Claiming and migrating under contention: many fetchers on many connections, several migrating processes.</summary>
public sealed class ContentionTests(PostgresServer server)
{
    private const int BatchSize = 7;

    [Fact]
    public async Task FetchReady_ManyConcurrentFetchers_NeverExceedBatchNorClaimTwice()
    {
        var ct = TestContext.Current.CancellationToken;
        var connectionString = await server.GetConnectionStringAsync(ct);
        var schema = PostgresServer.NewSchemaName("rel");
        await using var setup = NpgsqlDataSource.Create(connectionString);
        await EmbeddingKitMigrations.ApplyAsync(setup, schema, ct);
        var setupQueue = new PostgresEmbeddingTaskQueue(setup, schema);
        string[] models = ["a", "b", "c"];
        const int PerModel = 1_500;
        foreach (var model in models)
        {
            await setupQueue.EnqueueAsync([.. Enumerable.Range(0, PerModel).Select(i => new EnqueueRequest("doc", $"e{i}", model) { Priority = (short)(i % 3) })], ct);
        }

        // 24 fetchers on 4 data sources (so 4 independent pools, as from 4 processes); half claim one model, half all.
        var sources = Enumerable.Range(0, 4).Select(_ => NpgsqlDataSource.Create(new NpgsqlConnectionStringBuilder(connectionString) { MaxPoolSize = 8 }.ConnectionString)).ToList();
        var claimed = new ConcurrentBag<long>();
        var batchSizes = new ConcurrentBag<int>();
        var fetches = 0;
        try
        {
            var fetchers = Enumerable.Range(0, 24).Select(i => Task.Run(async () =>
            {
                var queue = new PostgresEmbeddingTaskQueue(sources[i % sources.Count], schema);
                IReadOnlyCollection<string> mine = i % 2 == 0 ? [models[i % 3]] : models;
                for (var round = 0; round < 2_000; round++)
                {
                    var tasks = await queue.FetchReadyAsync(new FetchRequest(mine, BatchSize, $"fetcher-{i}", TimeSpan.FromMinutes(10)), ct);
                    Interlocked.Increment(ref fetches);
                    if (tasks.Count == 0)
                    {
                        return;
                    }

                    batchSizes.Add(tasks.Count);
                    foreach (var task in tasks)
                    {
                        claimed.Add(task.Id);
                    }
                }
            }, ct)).ToList();
            await Task.WhenAll(fetchers);
        }
        finally
        {
            foreach (var source in sources)
            {
                await source.DisposeAsync();
            }
        }

        var ids = claimed.ToList();
        Figures.Report(nameof(FetchReady_ManyConcurrentFetchers_NeverExceedBatchNorClaimTwice), new
        {
            tasks = models.Length * PerModel,
            fetchers = 24,
            fetches,
            batch_size = BatchSize,
            largest_claim = batchSizes.Max(),
            claimed = ids.Count,
            distinct_claimed = ids.Distinct().Count(),
        });
        Assert.True(batchSizes.Max() <= BatchSize, $"a claim returned {batchSizes.Max()} tasks, more than the batch size {BatchSize}");
        Assert.Equal(ids.Count, ids.Distinct().Count());
        Assert.Equal(models.Length * PerModel, ids.Count);
        await using var check = setup.CreateCommand($"SELECT count(*) FROM \"{schema}\".embeddingkit_embedding_tasks WHERE lease_token IS NULL OR attempts <> 1");
        Assert.Equal(0L, await check.ExecuteScalarAsync(ct));
    }

    [Fact]
    public async Task Migrate_SeveralProcessesAndConnectionsAtOnce_AppliesEachVersionOnce()
    {
        var ct = TestContext.Current.CancellationToken;
        var connectionString = await server.GetConnectionStringAsync(ct);
        var schema = PostgresServer.NewSchemaName("rel");

        // Six `embeddingkit migrate` processes and eight in-process appliers on the same fresh schema, all at once.
        var processes = Enumerable.Range(0, 6)
            .Select(i => WorkerProcess.Start($"migrate-{i}", ["migrate", "--connection", connectionString, "--schema", schema]))
            .ToList();
        await using var dataSource = NpgsqlDataSource.Create(connectionString);
        var inProcess = Enumerable.Range(0, 8).Select(_ => Task.Run(() => EmbeddingKitMigrations.ApplyAsync(dataSource, schema, ct), ct)).ToList();
        try
        {
            await Task.WhenAll(inProcess);
            foreach (var process in processes)
            {
                Assert.True(await process.WaitForExitAsync(TimeSpan.FromMinutes(2)) == 0, process.Describe());
            }
        }
        finally
        {
            foreach (var process in processes)
            {
                await process.DisposeAsync();
            }
        }

        var applied = await EmbeddingKitMigrations.GetAppliedVersionsAsync(dataSource, schema, ct);
        await using var count = dataSource.CreateCommand($"SELECT count(*) FROM \"{schema}\".embeddingkit_migrations");
        var rows = (long)(await count.ExecuteScalarAsync(ct))!;
        Figures.Report(nameof(Migrate_SeveralProcessesAndConnectionsAtOnce_AppliesEachVersionOnce), new
        {
            processes = 6,
            in_process_appliers = 8,
            versions = EmbeddingKitMigrations.All.Count,
            migration_rows = rows,
        });
        Assert.Equal(EmbeddingKitMigrations.All.Select(m => m.Version), applied);
        Assert.Equal(EmbeddingKitMigrations.All.Count, rows);
    }
}
