using System.Diagnostics;
using EmbeddingKit.Embedders;
using EmbeddingKit.Postgres.Migrations;
using EmbeddingKit.Postgres.Storage;
using EmbeddingKit.Postgres.Tasks;
using EmbeddingKit.Runtime;
using EmbeddingKit.TestInfrastructure.Postgres;
using Microsoft.Extensions.DependencyInjection;

namespace EmbeddingKit.Hosting.Tests;

/// <summary>The storage a host gets from <c>UsePostgres</c> writes a batch as a batch: one table object per model, so
/// the records of one model share one group (one write), not one <c>INSERT</c> each.</summary>
public sealed class UsePostgresStorageTests(PostgresServer server)
{
    private const int Dimensions = 16;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task UsePostgres_DrainOf64Tasks_RunsAtMostOneStatementPerTenTasks()
    {
        var dataSource = await server.GetDataSourceAsync(Ct);
        var schema = PostgresServer.NewSchemaName("di_storage");
        await EmbeddingKitMigrations.ApplyAsync(dataSource, schema, Ct);
        await new EmbeddingIndexManager(dataSource).EnsureTableAsync(new EmbeddingTable(schema, Dimensions), Ct);
        var documents = new InMemoryDocuments();
        for (var i = 0; i < 64; i++)
        {
            documents.Texts[i.ToString(System.Globalization.CultureInfo.InvariantCulture)] = $"document {i} about embeddings";
        }

        var services = new ServiceCollection();
        services.AddEmbeddingKit(kit => kit
            .AddModel(new EmbeddingModel("model-a", Dimensions, new HashingEmbeddingGenerator(Dimensions)) { BatchSize = 64 })
            .UseDocumentBuilder(documents)
            .UsePostgres(dataSource, schema));
        await using var provider = services.BuildServiceProvider();
        var runtime = provider.GetRequiredService<EmbeddingRuntime>();
        var queue = provider.GetRequiredService<PostgresEmbeddingTaskQueue>();
        await runtime.EnqueueTextEmbeddingAsync("doc", documents.Texts.Keys, cancellationToken: Ct);

        var statements = 0;
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == "Npgsql",
            Sample = (ref _) => ActivitySamplingResult.AllData,
            ActivityStopped = activity =>
            {
                if (activity.Tags.Any(t => t.Value?.Contains(schema, StringComparison.Ordinal) == true))
                {
                    Interlocked.Increment(ref statements);
                }
            },
        };
        ActivitySource.AddActivityListener(listener);

        var drained = await queue.DrainOnceAsync(runtime, 64, "test", TimeSpan.FromMinutes(1), Ct);

        Assert.Equal(64, drained.Claimed);
        await using var count = dataSource.CreateCommand($"SELECT count(*) FROM \"{schema}\".embeddingkit_embeddings_{Dimensions}");
        Assert.Equal(64L, (long)(await count.ExecuteScalarAsync(Ct))!);
        // Claim, state lookup, the batch write and complete. Before tables were values, the write alone was one INSERT
        // per record (65 statements for an upsert of 64 records).
        Assert.True(statements <= 64 / 10, $"statements: {statements}");
    }

    [Fact]
    public void EmbeddingTable_TwoDescriptionsOfTheSameTable_AreEqualKeys()
    {
        var a = new EmbeddingTable("app", 384);
        var b = new EmbeddingTable("app", 384, "embeddingkit_embeddings_384");

        Assert.Equal(a, b);
        Assert.True(a == b);
        Assert.Equal(a.GetHashCode(), b.GetHashCode());
        Assert.NotEqual(a, new EmbeddingTable("app", 384) { HnswM = 32 });
        Assert.NotEqual(a, new EmbeddingTable("other", 384));
        Assert.Single(new HashSet<EmbeddingTable> { a, b, new EmbeddingTable("app", 384) });
    }
}
