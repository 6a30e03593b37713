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
using Npgsql;

namespace EmbeddingKit.Hosting.Tests;

/// <summary>Everything a host wires up, against the real test PostgreSQL and the fake provider: one schema per stack.</summary>
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

    public static EmbeddingModel Model(FakeEmbeddingServer provider, string name, int dimensions) =>
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
        { BatchSize = 16 };

    public static async Task<EmbeddingStack> CreateAsync(PostgresServer server, Func<FakeEmbeddingServer, IEnumerable<EmbeddingModel>>? models = null, CancellationToken cancellationToken = default)
    {
        var dataSource = await server.GetDataSourceAsync(cancellationToken);
        var schema = PostgresServer.NewSchemaName("e2e");
        await EmbeddingKitMigrations.ApplyAsync(dataSource, schema, cancellationToken);
        var provider = await FakeEmbeddingServer.StartAsync(cancellationToken);
        provider.Dimensions = 64;
        var registry = new EmbeddingModelRegistry(models?.Invoke(provider) ?? [Model(provider, "model-a", 64)]);
        var indexes = new EmbeddingIndexManager(dataSource);
        foreach (var model in registry.Models)
        {
            var table = new EmbeddingTable(schema, model.Dimensions);
            await indexes.EnsureTableAsync(table, cancellationToken);
            await indexes.EnsureModelIndexesAsync(table, model.Name, cancellationToken);
        }

        var documents = new InMemoryDocuments();
        var queue = new PostgresEmbeddingTaskQueue(dataSource, schema, new PostgresTaskQueueOptions { BackoffBase = TimeSpan.FromMilliseconds(100), BackoffMax = TimeSpan.FromSeconds(1) });
        var storage = new PgvectorEmbeddingStorage(dataSource, m => registry.TryGet(m, out var d) ? new EmbeddingTable(schema, d.Dimensions) : null) { TaskQueueSchema = schema, LexicalSchema = schema };
        var runtime = new EmbeddingRuntime(registry, documents, storage, queue);
        var rollout = new EmbeddingRollout(dataSource, schema, storage, queue);
        return new EmbeddingStack
        {
            DataSource = dataSource,
            Schema = schema,
            Provider = provider,
            Documents = documents,
            Registry = registry,
            Queue = queue,
            QueueAdmin = new PostgresEmbeddingQueueAdmin(dataSource, schema, queue.Options),
            Storage = storage,
            Runtime = runtime,
            Rollout = rollout,
            Search = new EmbeddingSearchService(runtime, new PgvectorSearch(dataSource), rollout, storage),
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

    public async ValueTask DisposeAsync() => await Provider.DisposeAsync();
}
