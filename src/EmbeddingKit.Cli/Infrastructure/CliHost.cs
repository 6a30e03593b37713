using EmbeddingKit.Postgres.Migrations;
using EmbeddingKit.Postgres.Rollout;
using EmbeddingKit.Postgres.Storage;
using EmbeddingKit.Postgres.Tasks;
using EmbeddingKit.Runtime;
using Npgsql;

namespace EmbeddingKit.Cli.Infrastructure;

/// <summary>
/// What a database command works with: the data source, the migrated schema, the documents table, the queue, and the
/// configured model with its embedding table, storage and runtime.
/// </summary>
internal sealed class CliHost : IAsyncDisposable
{
    private readonly Dictionary<int, EmbeddingTable> _tables = [];

    private CliHost(CliSettings settings, NpgsqlDataSource dataSource, ModelSetup? setup)
    {
        Settings = settings;
        DataSource = dataSource;
        Setup = setup;
        Documents = new DocumentStore(dataSource, settings.Schema);
        Queue = new PostgresEmbeddingTaskQueue(dataSource, settings.Schema);
        QueueAdmin = new PostgresEmbeddingQueueAdmin(dataSource, settings.Schema);
        Registry = setup is null ? new EmbeddingModelRegistry() : new EmbeddingModelRegistry(setup.Model);
        Table = setup is null ? null : TableFor(setup.Model.Dimensions);
        Storage = new PgvectorEmbeddingStorage(dataSource, model => Registry.TryGet(model, out var m) ? TableFor(m.Dimensions) : null)
        {
            TaskQueueSchema = settings.Schema,
            LexicalSchema = settings.Schema,
        };
        Runtime = new EmbeddingRuntime(Registry, Documents, Storage, Queue);
        Rollout = new EmbeddingRollout(dataSource, settings.Schema, Storage, Queue);
    }

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

    /// <summary>The embedding table of a dimension count (one instance each, so statement caches keyed by table hit).</summary>
    public EmbeddingTable TableFor(int dimensions)
    {
        lock (_tables)
        {
            if (!_tables.TryGetValue(dimensions, out var table))
            {
                table = new EmbeddingTable(Schema, dimensions);
                _tables[dimensions] = table;
            }

            return table;
        }
    }

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

            dataSource = await settings.OpenDataSourceAsync(line => reporter.Line("      " + line), cancellationToken);
            var host = new CliHost(settings, dataSource, setup);
            await host.EnsureSchemaAsync(cancellationToken);
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
        Setup?.Dispose();
        await DataSource.DisposeAsync();
    }

    private async Task EnsureSchemaAsync(CancellationToken cancellationToken)
    {
        await EmbeddingKitMigrations.ApplyAsync(DataSource, Schema, cancellationToken);

        // CREATE ... IF NOT EXISTS is not atomic in PostgreSQL: two processes starting at once on a new schema can both
        // try to create and one gets a duplicate error. The other one created it; check again.
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await Documents.EnsureTableAsync(cancellationToken);
                if (Table is not null && await new EmbeddingIndexManager(DataSource).EnsureTableAsync(Table, cancellationToken))
                {
                    await using var connection = await DataSource.OpenConnectionAsync(cancellationToken);
                    await connection.ReloadTypesAsync(cancellationToken);
                }

                return;
            }
            catch (PostgresException e) when (attempt < 3 && e.SqlState is PostgresErrorCodes.UniqueViolation or PostgresErrorCodes.DuplicateTable or PostgresErrorCodes.DuplicateObject or PostgresErrorCodes.DuplicateSchema)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(100 * attempt), cancellationToken);
            }
        }
    }
}
