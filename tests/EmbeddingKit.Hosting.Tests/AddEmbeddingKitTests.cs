using EmbeddingKit.Postgres.Migrations;
using EmbeddingKit.Runtime;
using EmbeddingKit.Tasks;
using EmbeddingKit.TestInfrastructure.FakeProvider;
using EmbeddingKit.TestInfrastructure.Postgres;
using EmbeddingKit.TestInfrastructure.Time;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Npgsql;

namespace EmbeddingKit.Hosting.Tests;

public sealed class AddEmbeddingKitTests(PostgresServer server)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task AddEmbeddingKit_WithPostgresAndWorker_MigratesOnStartAndEmbedsWhatIsEnqueued()
    {
        var dataSource = await server.GetDataSourceAsync(Ct);
        var schema = PostgresServer.NewSchemaName("di");
        await using var provider = await FakeEmbeddingServer.StartAsync(Ct);
        var documents = new InMemoryDocuments();
        for (var i = 0; i < 40; i++)
        {
            documents.Texts[i.ToString(System.Globalization.CultureInfo.InvariantCulture)] = $"document {i} about embeddings";
        }

        // The host's clock is fake and never advanced: the poll interval cannot pass, only NOTIFY wakes the idle loops.
        var time = new TimerCountingTimeProvider();
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddSingleton<TimeProvider>(time);
        builder.Services.AddEmbeddingKit(kit => kit
            .AddModel(EmbeddingStack.Model(provider, "model-a", 32))
            .UseDocumentBuilder(documents)
            .UsePostgres(dataSource, schema, applyMigrationsOnStart: true)
            .AddWorker(o =>
            {
                o.Concurrency = 2;
                o.BatchSize = 8;
                o.PollInterval = TimeSpan.FromSeconds(30);
                o.StatsInterval = TimeSpan.Zero;
            }));
        using var host = builder.Build();

        await host.StartAsync(Ct);
        Assert.Equal(Enumerable.Range(1, EmbeddingKitMigrations.LatestVersion), await EmbeddingKitMigrations.GetAppliedVersionsAsync(dataSource, schema, Ct));
        Assert.True(await time.WaitForTimersAsync(2, TimeSpan.FromSeconds(30), Ct), "both idle loops wait (each wait has a timeout timer)");
        var runtime = host.Services.GetRequiredService<EmbeddingRuntime>();
        await runtime.EnqueueTextEmbeddingAsync("doc", documents.Texts.Keys, cancellationToken: Ct);

        // No time passes on the host's clock: finishing proves the LISTEN/NOTIFY wake-up.
        var queue = host.Services.GetRequiredService<IEmbeddingTaskQueue>();
        var deadline = DateTime.UtcNow.AddSeconds(20);
        long stored = 0;
        while (DateTime.UtcNow < deadline && (stored = await CountAsync()) < 40)
        {
            await Task.Delay(100, Ct);
        }

        await host.StopAsync(Ct);
        Assert.Equal(40, stored);
        Assert.IsType<EmbeddingRuntime>(host.Services.GetRequiredService<IEmbeddingTaskHandler>());
        Assert.NotNull(queue);

        async Task<long> CountAsync()
        {
            await using var command = dataSource.CreateCommand($"SELECT count(*) FROM \"{schema}\".embeddingkit_embeddings_32");
            return (long)(await command.ExecuteScalarAsync(Ct))!;
        }
    }

    [Fact]
    public async Task StartAsync_ModelAbovePgvectorLimit_RefusedBeforeAnyTaskIsTried()
    {
        var dataSource = await server.GetDataSourceAsync(Ct);
        var schema = PostgresServer.NewSchemaName("di");
        await EmbeddingKitMigrations.ApplyAsync(dataSource, schema, Ct);
        var documents = new InMemoryDocuments();
        documents.Texts["1"] = "a document";
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddEmbeddingKit(kit => kit
            .AddModel(new EmbeddingModel("big-model", 4096, new EmbeddingKit.Embedders.HashingEmbeddingGenerator(4096)))
            .UseDocumentBuilder(documents)
            .UsePostgres(dataSource, schema)
            .AddWorker(o => o.PollInterval = TimeSpan.FromMilliseconds(50)));
        using var host = builder.Build();
        await host.Services.GetRequiredService<IEmbeddingTaskQueue>().EnqueueAsync([new EnqueueRequest("doc", "1", "big-model")], Ct);

        var error = await Assert.ThrowsAsync<EmbeddingKit.Postgres.Storage.UnsupportedDimensionsException>(() => host.StartAsync(Ct));

        Assert.Equal("big-model", error.Model);
        Assert.Equal(4096, error.Dimensions);
        Assert.Contains("4,000", error.Message, StringComparison.Ordinal);
        Assert.Contains("big-model", error.Message, StringComparison.Ordinal);
        await using var command = dataSource.CreateCommand($"SELECT attempts FROM \"{schema}\".embeddingkit_embedding_tasks");
        Assert.Equal(0, (int)(await command.ExecuteScalarAsync(Ct))!);
    }

    [Fact]
    public async Task StartAsync_MigrationsOnStartWhilePostgresIsDown_WaitsThenMigrates()
    {
        await using var cluster = await PostgresCluster.StartAsync(Ct);
        await using (var setup = Npgsql.NpgsqlDataSource.Create(cluster.ConnectionString))
        {
            await using var command = setup.CreateCommand("CREATE EXTENSION IF NOT EXISTS vector");
            await command.ExecuteNonQueryAsync(Ct);
        }

        await PostgresCluster.RunScriptAsync(["stop", cluster.DataDirectory], Ct);
        var builder = new Npgsql.NpgsqlDataSourceBuilder(cluster.ConnectionString);
        builder.UseVector();
        await using var dataSource = builder.Build();
        var time = new TimerCountingTimeProvider();
        var hostBuilder = Host.CreateApplicationBuilder();
        hostBuilder.Services.AddSingleton<TimeProvider>(time);
        hostBuilder.Services.AddEmbeddingKit(kit => kit
            .AddModel(new EmbeddingModel("model-a", 16, new EmbeddingKit.Embedders.HashingEmbeddingGenerator(16)))
            .UseDocumentBuilder(new InMemoryDocuments())
            .UsePostgres(dataSource, "waiting", applyMigrationsOnStart: true));
        using var host = hostBuilder.Build();

        // The waits between tries run on the host's clock: advanced here, never slept (a wait is one timer).
        var starting = host.StartAsync(Ct);
        Assert.True(await time.WaitForTimersAsync(1, TimeSpan.FromSeconds(60), Ct), "the first try failed and the wait began");
        time.Advance(TimeSpan.FromMilliseconds(500));
        Assert.True(await time.WaitForTimersAsync(2, TimeSpan.FromSeconds(60), Ct), "the second try failed too");
        var startedWhileDown = starting.IsCompleted;
        await PostgresCluster.RunScriptAsync(["start", cluster.DataDirectory], Ct);
        for (var timers = 2; !starting.IsCompleted; timers++)
        {
            time.Advance(TimeSpan.FromSeconds(10)); // at least the next wait (500 ms doubling to 10 s)
            await Task.WhenAny(starting, time.WaitForTimersAsync(timers + 1, TimeSpan.FromSeconds(60), Ct));
        }

        await starting;

        Assert.False(startedWhileDown);
        Assert.Equal(Enumerable.Range(1, EmbeddingKitMigrations.LatestVersion), await EmbeddingKitMigrations.GetAppliedVersionsAsync(dataSource, "waiting", Ct));
        await host.StopAsync(Ct);
    }

    [Fact]
    public async Task StartAsync_MigrationsOnStartWithAMissingDatabase_FailsAtOnce()
    {
        var connection = new Npgsql.NpgsqlConnectionStringBuilder((await server.GetDataSourceAsync(Ct)).ConnectionString) { Database = "no_such_database" };
        await using var dataSource = Npgsql.NpgsqlDataSource.Create(connection.ConnectionString);
        var hostBuilder = Host.CreateApplicationBuilder();
        hostBuilder.Services.AddEmbeddingKit(kit => kit
            .AddModel(new EmbeddingModel("model-a", 16, new EmbeddingKit.Embedders.HashingEmbeddingGenerator(16)))
            .UseDocumentBuilder(new InMemoryDocuments())
            .UsePostgres(dataSource, "missing", applyMigrationsOnStart: true));
        using var host = hostBuilder.Build();

        var error = await Assert.ThrowsAsync<Npgsql.PostgresException>(() => host.StartAsync(Ct));

        Assert.Equal("3D000", error.SqlState);
    }
}
