using System.Globalization;
using EmbeddingKit.Postgres.Migrations;
using EmbeddingKit.Postgres.Tasks;
using EmbeddingKit.Tasks;
using EmbeddingKit.TestInfrastructure.FakeProvider;
using EmbeddingKit.TestInfrastructure.Postgres;

namespace EmbeddingKit.Samples.Tests;

public sealed class WorkerServiceSampleTests(PostgresServer server)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task WorkerService_TasksEnqueuedByAnotherProcess_AreEmbeddedAndReportedThroughOpenTelemetry()
    {
        const int Count = 30;
        await using var provider = await FakeEmbeddingServer.StartAsync(Ct);
        var dataSource = await server.GetDataSourceAsync(Ct);
        var schema = PostgresServer.NewSchemaName("sample_worker");

        // The application's side: its table, its writes and their embedding tasks, committed together.
        await EmbeddingKitMigrations.ApplyAsync(dataSource, schema, Ct);
        var documents = new DocumentsTable(dataSource, schema);
        await documents.EnsureCreatedAsync(Ct);
        var queue = new PostgresEmbeddingTaskQueue(dataSource, schema);
        var admin = new PostgresEmbeddingQueueAdmin(dataSource, schema);
        await using (var connection = await dataSource.OpenConnectionAsync(Ct))
        await using (var transaction = await connection.BeginTransactionAsync(Ct))
        {
            for (var i = 0; i < Count; i++)
            {
                await documents.UpsertAsync(i.ToString(CultureInfo.InvariantCulture), $"document {i} for the worker service", connection, transaction, Ct);
            }

            await queue.EnqueueAsync([.. Enumerable.Range(0, Count).Select(i => new EnqueueRequest(DocumentsTable.EntityType, i.ToString(CultureInfo.InvariantCulture), "fake-embed"))], connection, transaction, Ct);
            await transaction.CommitAsync(Ct);
        }

        await using var sample = SampleProcess.Start("WorkerService", "WorkerService", new Dictionary<string, string>
        {
            ["ConnectionStrings__EmbeddingKit"] = await server.GetConnectionStringAsync(Ct),
            ["EmbeddingKit__Schema"] = schema,
            ["EmbeddingKit__Embedder__BaseUrl"] = provider.BaseUrl.ToString(),
            ["EmbeddingKit__Embedder__Model"] = "fake-embed",
            ["EmbeddingKit__Embedder__Dimensions"] = "40",
            ["EmbeddingKit__Embedder__BatchSize"] = "8",
            ["EmbeddingKit__Worker__Concurrency"] = "3",
            ["EmbeddingKit__Worker__BatchSize"] = "10",
            ["EmbeddingKit__Worker__StatsInterval"] = "00:00:01",
            ["Telemetry__MetricExportIntervalMilliseconds"] = "1000",
        });

        await Eventually.HoldsAsync(
            async () => await CountAsync($"SELECT count(*) FROM \"{schema}\".embeddingkit_embeddings_40 WHERE model = 'fake-embed'") == Count,
            $"{Count} vectors stored; output:\n{sample.Output}");
        await Eventually.HoldsAsync(async () => await admin.CountOutstandingAsync(["fake-embed"], Ct) == 0, "the queue is empty");
        var output = await sample.WaitForOutputAsync(
            o => o.Contains("embeddingkit.tasks.completed", StringComparison.Ordinal) && o.Contains("embeddingkit.queue.outstanding", StringComparison.Ordinal),
            "the console exporter prints EmbeddingKit's metrics");

        Assert.Contains("starting 3 loop(s), batch 10, models: fake-embed", output, StringComparison.Ordinal);   // EmbeddingKit:Worker bound from the environment
        Assert.Equal(Count, provider.InputCount);
        var exitCode = await sample.StopAsync();
        Assert.True(exitCode == 0, $"exit code {exitCode}:\n{sample.Output}");
        Assert.Contains($"stopped after {Count} completed and 0 failed tasks", sample.Output, StringComparison.Ordinal);

        async Task<long> CountAsync(string sql)
        {
            await using var command = dataSource.CreateCommand(sql);
            try
            {
                return (long)(await command.ExecuteScalarAsync(Ct))!;
            }
            catch (Npgsql.PostgresException e) when (e.SqlState == Npgsql.PostgresErrorCodes.UndefinedTable)
            {
                return -1;   // the sample has not created its storage table yet
            }
        }
    }
}
