using System.Globalization;
using EmbeddingKit.Embedders;
using EmbeddingKit.Postgres.Migrations;
using EmbeddingKit.Postgres.Search;
using EmbeddingKit.Postgres.Storage;
using EmbeddingKit.Runtime;
using EmbeddingKit.Tasks;
using EmbeddingKit.TestInfrastructure.Postgres;
using Microsoft.Extensions.DependencyInjection;

namespace EmbeddingKit.Hosting.Tests;

/// <summary>
/// A long-running host in a few minutes: 200,000 upserts (20 rounds over 10,000 entities whose text changes every round)
/// and 50,000 searches through what <c>AddEmbeddingKit(...).UsePostgres(...)</c> resolves. The statement caches of
/// storage and search stop growing after the first round, and managed memory after a full collection grows by less
/// than 10 MB between the end of the first round and the end of the run.
/// </summary>
public sealed class SoakTests(PostgresServer server)
{
    private const int Dimensions = 8;
    private const int Entities = 10_000;
    private const int Rounds = 20;
    private const int SearchesPerRound = 2_500;
    private const int Batch = 500;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task DiHost_200kUpsertsAnd50kSearches_StatementCachesConstantAndMemoryFlat()
    {
        var dataSource = await server.GetDataSourceAsync(Ct);
        var schema = PostgresServer.NewSchemaName("soak");
        await EmbeddingKitMigrations.ApplyAsync(dataSource, schema, Ct);
        var documents = new RoundDocuments();
        var services = new ServiceCollection();
        services.AddEmbeddingKit(kit => kit
            .AddModel(new EmbeddingModel("soak-hash", Dimensions, new HashingEmbeddingGenerator(Dimensions)) { BatchSize = Batch })
            .UseDocumentBuilder(documents)
            .UsePostgres(dataSource, schema));
        await using var provider = services.BuildServiceProvider();
        await provider.GetRequiredService<EmbeddingIndexManager>().EnsureTableAsync(new EmbeddingTable(schema, Dimensions), Ct);
        var runtime = provider.GetRequiredService<EmbeddingRuntime>();
        var queue = provider.GetRequiredService<IEmbeddingTaskQueue>();
        var handler = provider.GetRequiredService<IEmbeddingTaskHandler>();
        var storage = provider.GetRequiredService<PgvectorEmbeddingStorage>();
        var vectorSearch = provider.GetRequiredService<PgvectorSearch>();
        var search = provider.GetRequiredService<EmbeddingSearchService>();
        var ids = Enumerable.Range(0, Entities).Select(i => i.ToString(CultureInfo.InvariantCulture)).ToArray();

        long upserts = 0;
        long searches = 0;
        (int Storage, int Search, long Memory) afterFirstRound = default;
        for (var round = 0; round < Rounds; round++)
        {
            documents.Round = round;
            await runtime.EnqueueTextEmbeddingAsync("doc", ids, cancellationToken: Ct);
            while (true)
            {
                var drained = await EmbeddingTaskDrain.RunOnceAsync(queue, handler, Batch, "soak", TimeSpan.FromMinutes(5), cancellationToken: Ct);
                if (drained.Claimed == 0)
                {
                    break;
                }

                Assert.Equal(drained.Claimed, drained.Completion.Completed.Count);
                upserts += drained.Claimed;
            }

            // Four searches in flight; every fourth restricted to a few ids (a second statement shape).
            var current = round;
            await Parallel.ForEachAsync(Enumerable.Range(0, SearchesPerRound), new ParallelOptions { MaxDegreeOfParallelism = 4, CancellationToken = Ct }, async (i, ct) =>
            {
                var id = ids[(i * 7919 + current) % Entities];
                IReadOnlyCollection<string>? only = i % 4 == 0 ? [id, ids[(i + 1) % Entities]] : null;
                var result = await search.SearchAsync(RoundDocuments.TextOf(id, current), "doc", k: 5, entityIds: only, cancellationToken: ct);
                Assert.NotEmpty(result.Hits);
                Interlocked.Increment(ref searches);
            });

            if (round == 0)
            {
                afterFirstRound = (storage.CachedStatementTables, vectorSearch.CachedStatements, ManagedMemoryAfterGc());
            }
        }

        var memory = ManagedMemoryAfterGc();
        Assert.Equal(Rounds * Entities, upserts);
        Assert.Equal(Rounds * SearchesPerRound, searches);
        Assert.Equal(Entities, await storage.CountAsync("doc", "soak-hash", Ct));
        Assert.Equal(1, afterFirstRound.Storage);
        Assert.Equal(afterFirstRound.Storage, storage.CachedStatementTables);
        // One entry per statement shape (table, model, path, filters): a shape met only later (a short two-stage answer
        // re-run exactly) may add one, but 50,000 searches must not grow it past the handful of shapes there are.
        Assert.InRange(afterFirstRound.Search, 1, 8);
        Assert.InRange(vectorSearch.CachedStatements, afterFirstRound.Search, 8);
        Assert.True(memory - afterFirstRound.Memory < 10 * 1024 * 1024, $"managed memory grew from {afterFirstRound.Memory:N0} to {memory:N0} bytes");
    }

    private static long ManagedMemoryAfterGc()
    {
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        return GC.GetTotalMemory(forceFullCollection: true);
    }

    /// <summary>Every entity's text changes each round, so every round re-embeds and upserts every entity.</summary>
    private sealed class RoundDocuments : IDocumentBuilder
    {
        public int Round { get; set; }

        public static string TextOf(string id, int round) => $"entity {id} in round {round} about queues and vectors";

        public ValueTask<IReadOnlyDictionary<string, DocumentResult>> BuildAsync(string entityType, IReadOnlyList<string> entityIds, CancellationToken cancellationToken = default)
        {
            var round = Round;
            IReadOnlyDictionary<string, DocumentResult> result = entityIds.ToDictionary(id => id, id => DocumentResult.Text(TextOf(id, round)), StringComparer.Ordinal);
            return ValueTask.FromResult(result);
        }
    }
}
