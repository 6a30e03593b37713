using EmbeddingKit.Postgres;
using EmbeddingKit.Postgres.Migrations;
using EmbeddingKit.Postgres.Rollout;
using EmbeddingKit.Postgres.Search;
using EmbeddingKit.Postgres.Storage;
using EmbeddingKit.Postgres.Tasks;
using EmbeddingKit.Runtime;
using EmbeddingKit.Storage;
using EmbeddingKit.Tasks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;

namespace EmbeddingKit.Hosting;

/// <summary>Plugs PostgreSQL into <see cref="EmbeddingKitBuilder"/>: the task queue, the enqueue signal, the reference
/// pgvector storage (unless the host registered its own), search, rollout and index management.</summary>
public static partial class PostgresEmbeddingKitBuilderExtensions
{
    /// <summary>
    /// Uses PostgreSQL for the queue (in <paramref name="schema"/>) and, unless an <see cref="IEmbeddingStorage"/> is
    /// already registered, <see cref="PgvectorEmbeddingStorage"/> with one table per dimension in the same schema. That
    /// storage refuses, when the host starts and before any task is tried, a registered model with more dimensions than
    /// pgvector can index (<see cref="UnsupportedDimensionsException"/>).
    /// </summary>
    /// <remarks>
    /// <para>Registers, each once (a host's own registration of a type wins): <see cref="PostgresEmbeddingTaskQueue"/>
    /// (also as <see cref="IEmbeddingTaskQueue"/> and <see cref="IEmbeddingQueueStatistics"/>), the enqueue signal,
    /// <see cref="PgvectorEmbeddingStorage"/> (also as <see cref="IEmbeddingStorage"/>; one table object per model, made
    /// once, so batches group and statements are cached per table), <see cref="PgvectorSearch"/>,
    /// <see cref="EmbeddingRollout"/>, <see cref="EmbeddingSearchService"/> (with the host's <see cref="ILexicalSearch"/>
    /// when one is registered) and <see cref="EmbeddingIndexManager"/>. A host that only searches needs no document
    /// builder and no worker.</para>
    /// <para>Queue options (<see cref="PostgresTaskQueueOptions"/>) are bound from <c>EmbeddingKit:Queue</c> and then
    /// <paramref name="configureQueue"/>; search options (<see cref="EmbeddingSearchOptions"/>) from
    /// <c>EmbeddingKit:Search</c>. Both are validated when the host starts.</para>
    /// </remarks>
    /// <param name="builder">The builder.</param>
    /// <param name="dataSource">The database (build it with <c>UseVector()</c> for the storage).</param>
    /// <param name="schema">The host's schema for EmbeddingKit's tables.</param>
    /// <param name="applyMigrationsOnStart">Apply migrations when the host starts (before the worker).</param>
    /// <param name="configureQueue">Adjusts queue options.</param>
    /// <param name="readDataSource">A read replica (a hot standby of <paramref name="dataSource"/>) for search: vector
    /// queries run there first, while the queue, storage, rollout and the state and coverage checks that steer fallback
    /// stay on <paramref name="dataSource"/>; a query the replica fails or answers short goes to the primary (see
    /// docs/scaling.md).</param>
    public static EmbeddingKitBuilder UsePostgres(
        this EmbeddingKitBuilder builder, NpgsqlDataSource dataSource, string schema, bool applyMigrationsOnStart = false, Action<PostgresTaskQueueOptions>? configureQueue = null,
        NpgsqlDataSource? readDataSource = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(dataSource);
        PostgresIdentifier.Validate(schema, nameof(schema));
        var services = builder.Services;
        var queueOptions = services.AddOptions<PostgresTaskQueueOptions>().BindEmbeddingKitSection(QueueSectionName);
        if (configureQueue is not null)
        {
            queueOptions.Configure(configureQueue);
        }

        queueOptions.ValidateEmbeddingKitOptions(o => o.Validate());
        services.AddOptions<EmbeddingSearchOptions>().BindEmbeddingKitSection(EmbeddingSearchOptions.SectionName)
            .ValidateEmbeddingKitOptions(o => o.Validate());

        services.TryAddSingleton(dataSource);
        services.TryAddSingleton(sp => new PostgresEmbeddingTaskQueue(dataSource, schema, sp.GetRequiredService<IOptions<PostgresTaskQueueOptions>>().Value));
        services.TryAddSingleton<IEmbeddingTaskQueue>(sp => sp.GetRequiredService<PostgresEmbeddingTaskQueue>());
        services.TryAddSingleton(sp => new PostgresEmbeddingQueueAdmin(dataSource, schema, sp.GetRequiredService<IOptions<PostgresTaskQueueOptions>>().Value));
        services.TryAddSingleton<IEmbeddingQueueStatistics>(sp => sp.GetRequiredService<PostgresEmbeddingQueueAdmin>());
        services.TryAddSingleton<IEmbeddingTaskSignal>(sp => new PostgresTaskSignal(dataSource, schema, sp.GetService<ILogger<PostgresTaskSignal>>(), sp.GetService<TimeProvider>()));
        services.TryAddSingleton(sp =>
        {
            // One table object per model, made once: storage groups records and caches statements by table.
            var registry = sp.GetRequiredService<EmbeddingModelRegistry>();
            ThrowIfUnsupported(registry);
            // Only registered models are cached (the bound): a model registered later (a host adding one at run time)
            // is found then.
            var tables = new System.Collections.Concurrent.ConcurrentDictionary<string, EmbeddingTable>(StringComparer.Ordinal);
            return new PgvectorEmbeddingStorage(dataSource, model => tables.TryGetValue(model, out var table)
                ? table
                : registry.TryGet(model, out var definition)
                    ? tables.GetOrAdd(model, new EmbeddingTable(schema, definition.Dimensions, definition.StorageTarget))
                    : null)
            {
                TaskQueueSchema = schema,
                LexicalSchema = sp.GetRequiredService<IOptions<EmbeddingSearchOptions>>().Value.LexicalIndex ? schema : null,
            };
        });
        services.TryAddSingleton<IEmbeddingStorage>(sp => sp.GetRequiredService<PgvectorEmbeddingStorage>());

        // Reads and administration: a search-only host resolves these without a document builder or a worker.
        services.TryAddSingleton(_ => new PgvectorSearch(dataSource));
        services.TryAddSingleton(sp => new EmbeddingRollout(dataSource, schema, sp.GetRequiredService<PgvectorEmbeddingStorage>(), sp.GetRequiredService<PostgresEmbeddingTaskQueue>()));
        services.TryAddSingleton(sp => new QueryEmbedder(sp.GetRequiredService<EmbeddingModelRegistry>()));
        services.TryAddSingleton(sp => sp.GetRequiredService<EmbeddingRollout>().SearchModels);
        services.TryAddSingleton(sp => new ActiveModelCache(
            sp.GetRequiredService<SearchModelStore>(), null, sp.GetService<TimeProvider>(), sp.GetService<ILogger<ActiveModelCache>>()));
        services.TryAddSingleton(sp => new EmbeddingSearchService(
            sp.GetRequiredService<QueryEmbedder>(),
            sp.GetRequiredService<PgvectorSearch>(),
            sp.GetRequiredService<SearchModelStore>(),
            sp.GetRequiredService<PgvectorEmbeddingStorage>(),
            sp.GetService<ILexicalSearch>(),
            sp.GetRequiredService<IOptions<EmbeddingSearchOptions>>().Value)
        {
            ActiveModels = sp.GetRequiredService<ActiveModelCache>(),
            ReadSearch = readDataSource is null ? null : new PgvectorSearch(readDataSource),
        });
        services.TryAddSingleton(sp => new EmbeddingIndexManager(dataSource, sp.GetService<ILogger<EmbeddingIndexManager>>(), sp.GetService<TimeProvider>()));

        // First of all hosted services: resolving the storage refuses a model the pgvector storage cannot hold, so the
        // start stops before a worker claims (a host's own storage is not checked).
        services.Insert(0, ServiceDescriptor.Singleton<IHostedService>(sp => new StorageCheck(sp)));

        if (applyMigrationsOnStart)
        {
            // Registered before the worker's hosted service resolves, so it starts (and finishes) first.
            services.Insert(0, ServiceDescriptor.Singleton<IHostedService>(sp => new MigrationHostedService(
                dataSource, schema, sp.GetRequiredService<EmbeddingModelRegistry>(), sp.GetService<ILoggerFactory>()?.CreateLogger("EmbeddingKit.Postgres.Migrations"), sp.GetService<TimeProvider>())));
        }

        return builder;
    }

    /// <summary>The configuration section queue options are bound from.</summary>
    public const string QueueSectionName = "EmbeddingKit:Queue";

    private static void ThrowIfUnsupported(EmbeddingModelRegistry registry)
    {
        foreach (var model in registry.Models)
        {
            if (model.Dimensions > EmbeddingTable.MaxDimensions)
            {
                throw new UnsupportedDimensionsException(model.Name, model.Dimensions);
            }
        }
    }

    /// <summary>Resolves the storage at start, so that the pgvector storage refuses a model it cannot index then.</summary>
    private sealed class StorageCheck(IServiceProvider services) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken)
        {
            _ = services.GetService<IEmbeddingStorage>();
            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }

    /// <summary>Applies migrations and creates the storage tables of the registered models (not their indexes: index
    /// builds stay explicit). A database that is not reachable yet (started with the application, restarting) is
    /// retried with backoff (<see cref="PostgresDatabaseWait"/>) for up to <see cref="WaitForDatabase"/>; other errors fail
    /// the start at once.</summary>
    private sealed partial class MigrationHostedService(
        NpgsqlDataSource dataSource, string schema, EmbeddingModelRegistry registry, ILogger? logger, TimeProvider? timeProvider) : IHostedService
    {
        internal static readonly TimeSpan WaitForDatabase = TimeSpan.FromMinutes(5);

        public async Task StartAsync(CancellationToken cancellationToken)
        {
            var log = logger ?? Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
            var wait = PostgresDatabaseWait.Create(WaitForDatabase, timeProvider ?? TimeProvider.System, (e, delay) => LogWaiting(log, delay.TotalSeconds, e.Message));
            await wait.ExecuteAsync(static (self, token) => new ValueTask(self.ApplyAsync(token)), this, cancellationToken).ConfigureAwait(false);
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        private async Task ApplyAsync(CancellationToken cancellationToken)
        {
            await EmbeddingKitMigrations.ApplyAsync(dataSource, schema, cancellationToken).ConfigureAwait(false);
            var indexes = new EmbeddingIndexManager(dataSource, null, timeProvider);
            foreach (var model in registry.Models)
            {
                await indexes.EnsureTableAsync(new EmbeddingTable(schema, model.Dimensions, model.StorageTarget), cancellationToken).ConfigureAwait(false);
            }
        }

        [LoggerMessage(EventId = 3102, Level = LogLevel.Warning, Message = "PostgreSQL is not reachable for EmbeddingKit's migrations; retrying in {DelaySeconds} s: {Error}")]
        private static partial void LogWaiting(ILogger logger, double delaySeconds, string error);
    }
}
