using EmbeddingKit.OpenAI;
using EmbeddingKit.Postgres.Migrations;
using EmbeddingKit.Postgres.Rollout;
using EmbeddingKit.Postgres.Search;
using EmbeddingKit.Postgres.Storage;
using EmbeddingKit.Postgres.Tasks;
using EmbeddingKit.Runtime;
using EmbeddingKit.Tasks;
using EmbeddingKit.TestInfrastructure.FakeProvider;
using EmbeddingKit.TestInfrastructure.Postgres;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace EmbeddingKit.Hosting.Tests;

/// <summary>Everything a host wires up, composed as a host composes it (<c>AddEmbeddingKit(...).UsePostgres(...)</c>),
/// against the real test PostgreSQL and the fake provider: one schema per stack.</summary>
public sealed class EmbeddingStack : IAsyncDisposable
{
    public const string EntityType = "article";

    /// <summary>Six short articles the end-to-end tests embed and search.</summary>
    public static readonly IReadOnlyDictionary<string, string> Articles = new Dictionary<string, string>
    {
        ["1"] = "PostgreSQL stores vectors with the pgvector extension",
        ["2"] = "Binary quantization shrinks an HNSW index by a factor of thirty-two",
        ["3"] = "A worker claims tasks with FOR UPDATE SKIP LOCKED",
        ["4"] = "Rate limits from embedding providers defer work without using attempts",
        ["5"] = "Half precision vectors halve storage compared with single precision",
        ["6"] = "Rolling out a new embedding model needs a backfill and a coverage check",
    };

    private EmbeddingStack()
    {
    }

    public required NpgsqlDataSource DataSource { get; init; }

    public required string Schema { get; init; }

    public required FakeEmbeddingServer Provider { get; init; }

    public required InMemoryDocuments Documents { get; init; }

    public required EmbeddingModelRegistry Registry { get; init; }

    public required PostgresEmbeddingTaskQueue Queue { get; init; }

    public required PostgresEmbeddingQueueAdmin QueueAdmin { get; init; }

    public required PgvectorEmbeddingStorage Storage { get; init; }

    public required EmbeddingRuntime Runtime { get; init; }

    public required EmbeddingRollout Rollout { get; init; }

    public required EmbeddingSearchService Search { get; init; }

    /// <summary>Gets the container everything above was resolved from.</summary>
    public required ServiceProvider Services { get; init; }

    public static EmbeddingModel Model(FakeEmbeddingServer provider, string name, int dimensions, EmbeddingKit.Chunking.TextChunker? chunker = null) =>
        new(name, dimensions, OpenAICompatibleEmbeddingGenerator.Create(new OpenAICompatibleEmbeddingOptions
        {
            BaseUrl = provider.BaseUrl,
            ApiKey = "test-key",
            Model = name,
            Dimensions = dimensions,
            MaxInputsPerRequest = 16,
            BaseDelay = TimeSpan.FromMilliseconds(10),
            MaxDelay = TimeSpan.FromMilliseconds(50),
        }))
        { BatchSize = 16, Chunker = chunker };

    public static async Task<EmbeddingStack> CreateAsync(PostgresServer server, Func<FakeEmbeddingServer, IEnumerable<EmbeddingModel>>? models = null, CancellationToken cancellationToken = default)
    {
        var dataSource = await server.GetDataSourceAsync(cancellationToken);
        var schema = PostgresServer.NewSchemaName("e2e");
        await EmbeddingKitMigrations.ApplyAsync(dataSource, schema, cancellationToken);
        var provider = await FakeEmbeddingServer.StartAsync(cancellationToken);
        provider.Dimensions = 64;
        var documents = new InMemoryDocuments();
        var services = new ServiceCollection();
        services.AddEmbeddingKit(kit =>
        {
            foreach (var model in models?.Invoke(provider) ?? [Model(provider, "model-a", 64)])
            {
                kit.AddModel(model);
            }

            kit.UseDocumentBuilder(documents).UsePostgres(dataSource, schema, configureQueue: o =>
            {
                o.BackoffBase = TimeSpan.FromMilliseconds(100);
                o.BackoffMax = TimeSpan.FromSeconds(1);
            });
        });
        var container = services.BuildServiceProvider();
        var registry = container.GetRequiredService<EmbeddingModelRegistry>();
        var indexes = container.GetRequiredService<EmbeddingIndexManager>();
        foreach (var model in registry.Models)
        {
            var table = new EmbeddingTable(schema, model.Dimensions);
            await indexes.EnsureTableAsync(table, cancellationToken);
            await indexes.EnsureModelIndexesAsync(table, model.Name, cancellationToken);
        }

        return new EmbeddingStack
        {
            DataSource = dataSource,
            Schema = schema,
            Provider = provider,
            Documents = documents,
            Registry = registry,
            Queue = container.GetRequiredService<PostgresEmbeddingTaskQueue>(),
            QueueAdmin = container.GetRequiredService<PostgresEmbeddingQueueAdmin>(),
            Storage = container.GetRequiredService<PgvectorEmbeddingStorage>(),
            Runtime = container.GetRequiredService<EmbeddingRuntime>(),
            Rollout = container.GetRequiredService<EmbeddingRollout>(),
            Search = container.GetRequiredService<EmbeddingSearchService>(),
            Services = container,
        };
    }

    /// <summary>Drains the queue with the runtime until nothing is ready (like `work --until-idle` without waiting out leases).</summary>
    public async Task<int> DrainAsync(CancellationToken cancellationToken = default)
    {
        var claimed = 0;
        while (true)
        {
            var result = await Queue.DrainOnceAsync(Runtime, 64, "test", TimeSpan.FromMinutes(1), cancellationToken);
            if (result.Claimed == 0)
            {
                return claimed;
            }

            claimed += result.Claimed;
        }
    }

    public async Task<T> ScalarAsync<T>(string sql)
    {
        await using var command = DataSource.CreateCommand(sql.Replace("{s}", $"\"{Schema}\"", StringComparison.Ordinal));
        return (T)(await command.ExecuteScalarAsync())!;
    }

    public async ValueTask DisposeAsync()
    {
        await Services.DisposeAsync();
        await Provider.DisposeAsync();
    }
}
