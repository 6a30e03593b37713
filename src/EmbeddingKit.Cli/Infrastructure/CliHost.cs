using EmbeddingKit.Hosting;
using EmbeddingKit.Postgres.Migrations;
using EmbeddingKit.Postgres.Rollout;
using EmbeddingKit.Postgres.Storage;
using EmbeddingKit.Postgres.Tasks;
using EmbeddingKit.Runtime;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Polly;
using Polly.Retry;

namespace EmbeddingKit.Cli.Infrastructure;

/// <summary>
/// What a database command works with: the data source, the migrated schema, the documents table, and the services of
/// one invocation, composed as a host application composes them (<c>AddEmbeddingKit(...).UsePostgres(...)</c> with the
/// documents table as the document builder and the worker): the queue, the configured model with its embedding table,
/// storage, runtime and rollout are resolved from that container.
/// </summary>
internal sealed class CliHost : IAsyncDisposable
{
    private CliHost(CliSettings settings, NpgsqlDataSource dataSource, ModelSetup? setup)
    {
        Settings = settings;
        DataSource = dataSource;
        Setup = setup;
        Documents = new DocumentStore(dataSource, settings.Schema);
        var services = new ServiceCollection();
        services.AddSingleton(settings.TimeProvider);
        services.AddEmbeddingKit(kit =>
        {
            if (setup is not null)
            {
                kit.AddModel(setup.Model);
            }

            kit.UseDocumentBuilder(Documents)
                .UsePostgres(dataSource, settings.Schema)
                .AddWorker(o => ConfigureWorker?.Invoke(o));
        });
        Services = services.BuildServiceProvider();
        Registry = Services.GetRequiredService<EmbeddingModelRegistry>();
        Queue = Services.GetRequiredService<PostgresEmbeddingTaskQueue>();
        QueueAdmin = Services.GetRequiredService<PostgresEmbeddingQueueAdmin>();
        Storage = Services.GetRequiredService<PgvectorEmbeddingStorage>();
        Runtime = Services.GetRequiredService<EmbeddingRuntime>();
        Rollout = Services.GetRequiredService<EmbeddingRollout>();
        Table = setup is null ? null : Storage.GetTable(setup.Model.Name);
        Time = Services.GetRequiredService<TimeProvider>();
    }

    /// <summary>Gets the invocation's container.</summary>
    public ServiceProvider Services { get; }

    /// <summary>Gets or sets the worker's options, applied when the worker is first resolved (by <c>work</c> and
    /// <c>demo</c>).</summary>
    public Action<EmbeddingWorkerOptions>? ConfigureWorker { get; set; }

    /// <summary>Gets the models this invocation knows: the configured one, and hashing models added by name.</summary>
    public EmbeddingModelRegistry Registry { get; }

    public EmbeddingRollout Rollout { get; }

    public CliSettings Settings { get; }

    public NpgsqlDataSource DataSource { get; }

    public ModelSetup? Setup { get; }

    public EmbeddingModel Model => (Setup ?? throw new InvalidOperationException("No model configured.")).Model;

    public DocumentStore Documents { get; }

    public PostgresEmbeddingTaskQueue Queue { get; }

    /// <summary>Gets the queue's administration (dead tasks, stats, pauses, outstanding counts).</summary>
    public PostgresEmbeddingQueueAdmin QueueAdmin { get; }

    /// <summary>Gets the configured model's embedding table.</summary>
    public EmbeddingTable? Table { get; }

    public PgvectorEmbeddingStorage Storage { get; }

    public EmbeddingRuntime Runtime { get; }

    public string Schema => Settings.Schema;

    /// <summary>Gets the invocation's clock (the container's <see cref="TimeProvider"/>).</summary>
    public TimeProvider Time { get; }

    /// <summary>The embedding table of a dimension count (tables are values: equal descriptions share statement
    /// caches).</summary>
    public EmbeddingTable TableFor(int dimensions) => new(Schema, dimensions);

    /// <summary>Makes a model known by name when it can be built without provider options (<c>hashing-N</c>, a local
    /// preset).</summary>
    /// <returns>Whether the model is now known.</returns>
    public bool TryAddModelByName(string model)
    {
        if (Registry.TryGet(model, out _))
        {
            return true;
        }

        if (ModelSetup.LocalPreset(model) is { } local)
        {
            Registry.Add(local.ToEmbeddingModel());
            return true;
        }

        if (ModelSetup.HashingDimensions(model) is not { } dimensions)
        {
            return false;
        }

        Registry.Add(new EmbeddingModel(model, dimensions, new EmbeddingKit.Embedders.HashingEmbeddingGenerator(dimensions)));
        return true;
    }

    /// <summary>
    /// Opens the database (starting the local PostgreSQL when no connection is given), applies the migrations, creates
    /// the documents table and, when a model is configured, its embedding table.
    /// </summary>
    public static async Task<CliHost> OpenAsync(CliSettings settings, Reporter reporter, bool withModel, CancellationToken cancellationToken, bool probeDimensions = false, string? defaultProvider = null)
    {
        var setup = !withModel ? null : probeDimensions ? await ModelSetup.CreateProbingAsync(settings, defaultProvider, cancellationToken) : ModelSetup.Create(settings);
        NpgsqlDataSource? dataSource = null;
        try
        {
            if (setup is not null && setup.Model.Dimensions > EmbeddingTable.MaxDimensions)
            {
                throw new CliException($"--dimensions {setup.Model.Dimensions} is over the {EmbeddingTable.MaxDimensions} that halfvec HNSW can index", 2);
            }

            Action<string> progress = line => reporter.Line("      " + line);
            dataSource = await settings.OpenDataSourceAsync(progress, cancellationToken);
            var host = new CliHost(settings, dataSource, setup);
            await settings.CreateDatabaseWait("PostgreSQL", progress)
                .ExecuteAsync(static async (h, token) => await h.EnsureSchemaAsync(token), host, cancellationToken);
            return host;
        }
        catch
        {
            setup?.Dispose();
            if (dataSource is not null)
            {
                await dataSource.DisposeAsync();
            }

            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Services.DisposeAsync();
        Setup?.Dispose();
        await DataSource.DisposeAsync();
    }

    private async Task EnsureSchemaAsync(CancellationToken cancellationToken)
    {
        await EmbeddingKitMigrations.ApplyAsync(DataSource, Schema, cancellationToken);

        // CREATE ... IF NOT EXISTS is not atomic in PostgreSQL: two processes starting at once on a new schema can both
        // try to create and one gets a duplicate error. The other one created it; check again (twice, after 100 and 200 ms).
        var duplicates = new ResiliencePipelineBuilder { TimeProvider = Time }
            .AddRetry(new RetryStrategyOptions
            {
                ShouldHandle = static args => ValueTask.FromResult(args.Outcome.Exception is PostgresException
                {
                    SqlState: PostgresErrorCodes.UniqueViolation or PostgresErrorCodes.DuplicateTable or PostgresErrorCodes.DuplicateObject or PostgresErrorCodes.DuplicateSchema,
                }),
                MaxRetryAttempts = 2,
                BackoffType = DelayBackoffType.Linear,
                UseJitter = false,
                Delay = TimeSpan.FromMilliseconds(100),
            })
            .Build();
        await duplicates.ExecuteAsync(
            static async (host, token) =>
            {
                await host.Documents.EnsureTableAsync(token);
                if (host.Table is not null && await new EmbeddingIndexManager(host.DataSource, null, host.Time).EnsureTableAsync(host.Table, token))
                {
                    await using var connection = await host.DataSource.OpenConnectionAsync(token);
                    await connection.ReloadTypesAsync(token);
                }
            },
            this,
            cancellationToken);
    }
}
