using EmbeddingKit.OpenAI;
using EmbeddingKit.Postgres.Migrations;
using EmbeddingKit.Postgres.Storage;
using EmbeddingKit.Postgres.Tasks;
using EmbeddingKit.Runtime;
using EmbeddingKit.Tasks;
using EmbeddingKit.TestInfrastructure.FakeProvider;
using EmbeddingKit.TestInfrastructure.Postgres;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace EmbeddingKit.Reliability.Tests.Infrastructure;

/// <summary>
/// An in-process stack for provider-fault tests: its own schema, the fake provider, the OpenAI-compatible generator
/// with short timeouts, the real queue (short backoffs) behind a <see cref="RecordingQueue"/>, and every log line
/// captured at Trace.
/// </summary>
public sealed class FaultStack : IAsyncDisposable
{
    public const string ApiKey = "sk-faults-0b6c2f41-never-print-me";
    public const string Model = "m";
    public const string EntityType = "doc";
    public const int Dimensions = 16;

    private readonly ILoggerFactory _loggers;

    private FaultStack(NpgsqlDataSource dataSource, string schema, FakeEmbeddingServer provider, RecordingLoggerProvider logs, ILoggerFactory loggers, IEmbeddingGenerator<string, Embedding<float>> generator, int batchSize)
    {
        DataSource = dataSource;
        Schema = schema;
        Provider = provider;
        Logs = logs;
        _loggers = loggers;
        Generator = generator;
        PostgresQueue = new PostgresEmbeddingTaskQueue(dataSource, schema, new PostgresTaskQueueOptions
        {
            MaxAttempts = 5,
            BackoffBase = TimeSpan.FromMilliseconds(50),
            BackoffMax = TimeSpan.FromMilliseconds(400),
            ModelPauseDuration = TimeSpan.FromMilliseconds(500),
            DefaultRateLimitDelay = TimeSpan.FromSeconds(1),
            MaxRateLimitDelay = TimeSpan.FromSeconds(2),
        });
        PostgresQueueAdmin = new PostgresEmbeddingQueueAdmin(dataSource, schema, PostgresQueue.Options);
        Queue = new RecordingQueue(PostgresQueue);
        Table = new EmbeddingTable(schema, Dimensions);
        var table = Table;
        var registry = new EmbeddingModelRegistry(new EmbeddingModel(Model, Dimensions, generator) { BatchSize = batchSize, MaxConcurrentBatches = 4 });
        Storage = new PgvectorEmbeddingStorage(dataSource, m => m == Model ? table : null) { TaskQueueSchema = schema };
        Runtime = new EmbeddingRuntime(registry, Documents, Storage, Queue, loggers.CreateLogger<EmbeddingRuntime>());
    }

    public NpgsqlDataSource DataSource { get; }

    public string Schema { get; }

    public FakeEmbeddingServer Provider { get; }

    public RecordingLoggerProvider Logs { get; }

    public IEmbeddingGenerator<string, Embedding<float>> Generator { get; }

    public PostgresEmbeddingTaskQueue PostgresQueue { get; }

    public PostgresEmbeddingQueueAdmin PostgresQueueAdmin { get; }

    public RecordingQueue Queue { get; }

    public EmbeddingTable Table { get; }

    public PgvectorEmbeddingStorage Storage { get; }

    public DictionaryDocuments Documents { get; } = new();

    public EmbeddingRuntime Runtime { get; }

    /// <summary>Creates the stack; <paramref name="generator"/> replaces EmbeddingKit's client (for example with the
    /// Microsoft.Extensions.AI OpenAI client against the same fake provider).</summary>
    public static async Task<FaultStack> CreateAsync(
        PostgresServer server, Action<OpenAICompatibleEmbeddingOptions>? configure = null,
        int batchSize = 10, Func<FakeEmbeddingServer, IEmbeddingGenerator<string, Embedding<float>>>? generator = null, CancellationToken cancellationToken = default)
    {
        var dataSource = await server.GetDataSourceAsync(cancellationToken);
        var schema = PostgresServer.NewSchemaName("rel");
        await EmbeddingKitMigrations.ApplyAsync(dataSource, schema, cancellationToken);
        await new EmbeddingIndexManager(dataSource).EnsureTableAsync(new EmbeddingTable(schema, Dimensions), cancellationToken);
        await using (var connection = await dataSource.OpenConnectionAsync(cancellationToken))
        {
            await connection.ReloadTypesAsync(cancellationToken);
        }

        var provider = await FakeEmbeddingServer.StartAsync(cancellationToken);
        provider.Dimensions = Dimensions;
        var logs = new RecordingLoggerProvider();
        var loggers = LoggerFactory.Create(b => b.AddProvider(logs).SetMinimumLevel(LogLevel.Trace));
        var options = new OpenAICompatibleEmbeddingOptions
        {
            BaseUrl = provider.BaseUrl,
            ApiKey = ApiKey,
            Model = Model,
            Dimensions = Dimensions,
            MaxInputsPerRequest = 10,
            RequestTimeout = TimeSpan.FromSeconds(1),
            TotalTimeout = TimeSpan.FromSeconds(10),
            MaxAttempts = 2,
            BaseDelay = TimeSpan.FromMilliseconds(10),
            MaxDelay = TimeSpan.FromMilliseconds(50),
            MaxRetryAfter = TimeSpan.FromSeconds(1),
        };
        configure?.Invoke(options);
        var client = generator?.Invoke(provider) ?? OpenAICompatibleEmbeddingGenerator.Create(options, logger: loggers.CreateLogger("EmbeddingKit.OpenAI"));
        return new FaultStack(dataSource, schema, provider, logs, loggers, client, batchSize);
    }

    /// <summary>Adds documents and enqueues them.</summary>
    public async Task SeedAsync(int count, Func<int, string>? text = null, CancellationToken cancellationToken = default)
    {
        for (var i = 0; i < count; i++)
        {
            Documents.Texts[$"d{i}"] = text?.Invoke(i) ?? $"document {i}: " + string.Concat(Enumerable.Repeat("fault ", 1 + (i % 5)));
        }

        await PostgresQueue.EnqueueAsync([.. Enumerable.Range(0, count).Select(i => new EnqueueRequest(EntityType, $"d{i}", Model))], cancellationToken);
    }

    /// <summary>Drains like a worker (claim, embed, store, complete/fail) until nothing is outstanding; bounded by
    /// <paramref name="timeout"/>. Returns whether it got there.</summary>
    public async Task<bool> DrainAsync(TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            var result = await EmbeddingTaskDrain.RunOnceAsync(Queue, Runtime, 40, "fault-test", TimeSpan.FromSeconds(30), cancellationToken: cancellationToken);
            if (result.Claimed == 0)
            {
                if (await PostgresQueueAdmin.CountOutstandingAsync([Model], cancellationToken) == 0)
                {
                    return true;
                }

                await Task.Delay(50, cancellationToken);
            }
        }

        return false;
    }

    public async Task<long> CountAsync(string sql, CancellationToken cancellationToken = default)
    {
        await using var command = DataSource.CreateCommand(sql
            .Replace("{tasks}", $"\"{Schema}\".embeddingkit_embedding_tasks", StringComparison.Ordinal)
            .Replace("{dead}", $"\"{Schema}\".embeddingkit_embedding_tasks_dead", StringComparison.Ordinal)
            .Replace("{vectors}", Table.QualifiedName, StringComparison.Ordinal));
        return Convert.ToInt64(await command.ExecuteScalarAsync(cancellationToken), System.Globalization.CultureInfo.InvariantCulture);
    }

    public async Task<List<string>> TextsAsync(string sql, CancellationToken cancellationToken = default)
    {
        await using var command = DataSource.CreateCommand(sql
            .Replace("{tasks}", $"\"{Schema}\".embeddingkit_embedding_tasks", StringComparison.Ordinal)
            .Replace("{dead}", $"\"{Schema}\".embeddingkit_embedding_tasks_dead", StringComparison.Ordinal));
        var texts = new List<string>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            texts.Add(reader.IsDBNull(0) ? "" : reader.GetString(0));
        }

        return texts;
    }

    public async ValueTask DisposeAsync()
    {
        Generator.Dispose();
        _loggers.Dispose();
        await Provider.DisposeAsync();
    }
}
