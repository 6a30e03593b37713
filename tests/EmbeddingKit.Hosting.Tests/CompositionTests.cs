using System.Globalization;
using EmbeddingKit.Embedders;
using EmbeddingKit.Postgres.Migrations;
using EmbeddingKit.Postgres.Rollout;
using EmbeddingKit.Postgres.Search;
using EmbeddingKit.Postgres.Storage;
using EmbeddingKit.Postgres.Tasks;
using EmbeddingKit.Runtime;
using EmbeddingKit.TestInfrastructure.Postgres;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace EmbeddingKit.Hosting.Tests;

/// <summary>One composition: what <c>AddEmbeddingKit(...).UsePostgres(...)</c> gives a host, a worker that drains and
/// stops, and a host that only searches.</summary>
public sealed class CompositionTests(PostgresServer server)
{
    private const int Dimensions = 32;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static EmbeddingModel Hashing() => new("hash-a", Dimensions, new HashingEmbeddingGenerator(Dimensions)) { BatchSize = 32 };

    [Fact]
    public async Task AddWorker_StopWhenIdle_DrainsTheQueueReportsProgressAndStopsTheHost()
    {
        var dataSource = await server.GetDataSourceAsync(Ct);
        var schema = PostgresServer.NewSchemaName("idle");
        var documents = Documents(100);
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddEmbeddingKit(kit => kit
            .AddModel(Hashing())
            .UseDocumentBuilder(documents)
            .UsePostgres(dataSource, schema, applyMigrationsOnStart: true)
            .AddWorker(o =>
            {
                o.Concurrency = 3;
                o.BatchSize = 16;
                o.StopWhenIdle = true;
                o.PollInterval = TimeSpan.FromMilliseconds(200);
            }));
        using var host = builder.Build();
        await EmbeddingKitMigrations.ApplyAsync(dataSource, schema, Ct);
        await host.Services.GetRequiredService<EmbeddingRuntime>().EnqueueTextEmbeddingAsync("doc", documents.Texts.Keys, cancellationToken: Ct);
        var worker = host.Services.GetRequiredService<EmbeddingWorker>();
        var storage = host.Services.GetRequiredService<PgvectorEmbeddingStorage>();
        var events = new List<EmbeddingWorkerProgress>();
        worker.ProgressChanged += (_, progress) =>
        {
            lock (events)
            {
                events.Add(progress);
            }
        };

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        timeout.CancelAfter(TimeSpan.FromMinutes(1));
        await host.RunAsync(timeout.Token); // returns because the worker stopped the application, not the timeout

        Assert.False(timeout.IsCancellationRequested);
        var final = worker.Progress;
        Assert.True(final.StoppedWhenIdle);
        Assert.Equal(100, final.Claimed);
        Assert.Equal(100, final.Completed);
        Assert.Equal(0, final.Failed);
        Assert.Equal(0, final.Outstanding);
        Assert.Equal(100L, await storage.CountAsync("doc", "hash-a", Ct));
        lock (events)
        {
            Assert.Equal(final, events[^1]);
            Assert.Equal(events.Select(e => e.Completed).Order(), events.Select(e => e.Completed)); // never goes back
        }
    }

    [Fact]
    public async Task AddEmbeddingKit_SearchOnlyHost_ResolvesTheSearchServiceAndFindsWhatAWorkerStored()
    {
        var dataSource = await server.GetDataSourceAsync(Ct);
        var schema = PostgresServer.NewSchemaName("readonly");
        var documents = Documents(20);
        await DrainAsync(dataSource, schema, documents);

        // The application that serves searches: a model and the database, no document builder, no worker.
        var services = new ServiceCollection();
        services.AddEmbeddingKit(kit => kit.AddModel(Hashing()).UsePostgres(dataSource, schema));
        await using var provider = services.BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true, ValidateScopes = true });
        var search = provider.GetRequiredService<EmbeddingSearchService>();
        Assert.NotNull(provider.GetRequiredService<EmbeddingIndexManager>());
        Assert.NotNull(provider.GetRequiredService<EmbeddingRollout>());
        Assert.Same(provider.GetRequiredService<PgvectorSearch>(), provider.GetRequiredService<PgvectorSearch>());

        var result = await search.SearchAsync(documents.Texts["7"], "doc", k: 3, cancellationToken: Ct);

        Assert.Equal("hash-a", result.Model);
        Assert.Equal("7", result.Hits[0].EntityId);
        Assert.Equal(3, result.Hits.Count);
    }

    [Fact]
    public async Task UsePostgres_QueueAndSearchSections_AreBoundFromConfigurationThenTheCallback()
    {
        var dataSource = await server.GetDataSourceAsync(Ct);
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["EmbeddingKit:Queue:MaxAttempts"] = "3",
            ["EmbeddingKit:Queue:BackoffBase"] = "00:00:02",
            ["EmbeddingKit:Search:UncoveredLimit"] = "50",
        });
        builder.Services.AddEmbeddingKit(kit => kit
            .AddModel(Hashing())
            .UsePostgres(dataSource, PostgresServer.NewSchemaName("config"), configureQueue: o => o.MaxErrorLength = 500));
        using var host = builder.Build();

        var queue = host.Services.GetRequiredService<IOptions<PostgresTaskQueueOptions>>().Value;
        Assert.Equal(3, queue.MaxAttempts);
        Assert.Equal(TimeSpan.FromSeconds(2), queue.BackoffBase);
        Assert.Equal(500, queue.MaxErrorLength);
        Assert.Equal(PostgresTaskQueueDefaults.BackoffMax, queue.BackoffMax);
        Assert.Equal(50, host.Services.GetRequiredService<IOptions<EmbeddingSearchOptions>>().Value.UncoveredLimit);
    }

    [Theory]
    [InlineData(null, true)]
    [InlineData("false", false)]
    public async Task UsePostgres_SearchLexicalIndexOption_DecidesWhetherStorageWritesTheLexicalIndex(string? value, bool kept)
    {
        var dataSource = await server.GetDataSourceAsync(Ct);
        var schema = PostgresServer.NewSchemaName("lexopt");
        var builder = Host.CreateApplicationBuilder();
        if (value is not null)
        {
            builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["EmbeddingKit:Search:LexicalIndex"] = value });
        }

        builder.Services.AddEmbeddingKit(kit => kit.AddModel(Hashing()).UsePostgres(dataSource, schema));
        using var host = builder.Build();

        var storage = host.Services.GetRequiredService<PgvectorEmbeddingStorage>();
        var search = host.Services.GetRequiredService<EmbeddingSearchService>();

        Assert.Equal(kept ? schema : null, storage.LexicalSchema);
        Assert.Equal(kept, search.LexicalIndex is not null);
    }

    [Theory]
    [InlineData(null, 1000)]
    [InlineData("200", 200)]
    [InlineData("", null)]
    public async Task UsePostgres_SearchLexicalRankLimit_IsBoundWithEmptyForEveryMatch(string? value, int? expected)
    {
        var dataSource = await server.GetDataSourceAsync(Ct);
        var builder = Host.CreateApplicationBuilder();
        if (value is not null)
        {
            builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["EmbeddingKit:Search:LexicalRankLimit"] = value });
        }

        builder.Services.AddEmbeddingKit(kit => kit.AddModel(Hashing()).UsePostgres(dataSource, PostgresServer.NewSchemaName("ranklimit")));
        using var host = builder.Build();

        Assert.Equal(expected, host.Services.GetRequiredService<IOptions<EmbeddingSearchOptions>>().Value.LexicalRankLimit);
    }

    [Theory]
    [InlineData("EmbeddingKit:Queue:MaxAttempts", "0")]
    [InlineData("EmbeddingKit:Search:UncoveredLimit", "0")]
    [InlineData("EmbeddingKit:Search:LexicalRankLimit", "0")]
    public async Task StartAsync_OptionOutOfRange_RefusesToStart(string key, string value)
    {
        var dataSource = await server.GetDataSourceAsync(Ct);
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { [key] = value });
        builder.Services.AddEmbeddingKit(kit => kit.AddModel(Hashing()).UsePostgres(dataSource, PostgresServer.NewSchemaName("invalid")));
        using var host = builder.Build();

        await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync(Ct));
    }

    [Fact]
    public async Task StartAsync_WorkerWithoutDocumentBuilder_RefusesToStart()
    {
        var dataSource = await server.GetDataSourceAsync(Ct);
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddEmbeddingKit(kit => kit.AddModel(Hashing()).UsePostgres(dataSource, PostgresServer.NewSchemaName("nobuilder")).AddWorker());
        using var host = builder.Build();

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync(Ct));
        Assert.Contains("UseDocumentBuilder", error.Message, StringComparison.Ordinal);
    }

    private static InMemoryDocuments Documents(int count)
    {
        var documents = new InMemoryDocuments();
        for (var i = 0; i < count; i++)
        {
            documents.Texts[i.ToString(CultureInfo.InvariantCulture)] = string.Create(CultureInfo.InvariantCulture, $"document {i} topic{i} word{i * 7} about{i % 5} embeddings");
        }

        return documents;
    }

    /// <summary>Stores the documents' vectors the way a worker application does: migrations on start, a worker that
    /// stops when the queue is drained.</summary>
    private static async Task DrainAsync(Npgsql.NpgsqlDataSource dataSource, string schema, InMemoryDocuments documents)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddEmbeddingKit(kit => kit
            .AddModel(Hashing())
            .UseDocumentBuilder(documents)
            .UsePostgres(dataSource, schema, applyMigrationsOnStart: true)
            .AddWorker(o =>
            {
                o.StopWhenIdle = true;
                o.PollInterval = TimeSpan.FromMilliseconds(200);
            }));
        using var host = builder.Build();
        await EmbeddingKitMigrations.ApplyAsync(dataSource, schema, Ct);
        await host.Services.GetRequiredService<EmbeddingRuntime>().EnqueueTextEmbeddingAsync("doc", documents.Texts.Keys, cancellationToken: Ct);
        var worker = host.Services.GetRequiredService<EmbeddingWorker>();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        timeout.CancelAfter(TimeSpan.FromMinutes(1));
        await host.RunAsync(timeout.Token);
        Assert.Equal(documents.Texts.Count, worker.Progress.Completed);
    }
}
