using System.Diagnostics;
using EmbeddingKit.Embedders;
using EmbeddingKit.Postgres.Migrations;
using EmbeddingKit.Postgres.Storage;
using EmbeddingKit.Runtime;
using EmbeddingKit.Storage;
using EmbeddingKit.Tasks;
using EmbeddingKit.TestInfrastructure.Postgres;
using Microsoft.Extensions.DependencyInjection;

namespace EmbeddingKit.Hosting.Tests;

/// <summary>The storage a host gets from <c>UsePostgres</c> writes a batch as a batch: one table object per model, so
/// the records of one model share one group (one <c>COPY</c>), not one <c>INSERT</c> each.</summary>
public sealed class UsePostgresStorageTests(PostgresServer server)
{
    private const int Dimensions = 16;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task UsePostgres_UpsertOf64RecordsOfOneModel_RunsAHandfulOfStatementsNotOnePerRecord()
    {
        var dataSource = await server.GetDataSourceAsync(Ct);
        var schema = PostgresServer.NewSchemaName("di_storage");
        await EmbeddingKitMigrations.ApplyAsync(dataSource, schema, Ct);
        await new EmbeddingIndexManager(dataSource).EnsureTableAsync(new EmbeddingTable(schema, Dimensions), Ct);
        var services = new ServiceCollection();
        services.AddEmbeddingKit(kit => kit
            .AddModel(new EmbeddingModel("model-a", Dimensions, new HashingEmbeddingGenerator(Dimensions)))
            .UsePostgres(dataSource, schema));
        await using var provider = services.BuildServiceProvider();
        var storage = provider.GetRequiredService<IEmbeddingStorage>();
        var records = Enumerable.Range(0, 64).Select(i => new EmbeddingRecord(
            new EmbeddingTaskKey("doc", i.ToString(System.Globalization.CultureInfo.InvariantCulture), "model-a"),
            Enumerable.Range(0, Dimensions).Select(d => (Half)(d == i % Dimensions ? 1 : 0)).ToArray(),
            [1, 2, 3],
            Generation: 1)).ToList();

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

        var written = await storage.UpsertAsync(records, Ct);

        Assert.Equal(64, written);
        await using var count = dataSource.CreateCommand($"SELECT count(*) FROM \"{schema}\".embeddingkit_embeddings_{Dimensions}");
        Assert.Equal(64L, (long)(await count.ExecuteScalarAsync(Ct))!);
        Assert.True(statements <= 4, $"statements: {statements}");   // before tables were values: 65, one INSERT per record
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
