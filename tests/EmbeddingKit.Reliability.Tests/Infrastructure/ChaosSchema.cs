using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using EmbeddingKit.OpenAI;
using EmbeddingKit.Postgres.Storage;
using EmbeddingKit.Postgres.Tasks;
using EmbeddingKit.Runtime;
using EmbeddingKit.Storage;
using EmbeddingKit.Tasks;
using EmbeddingKit.TestInfrastructure.FakeProvider;
using EmbeddingKit.TestInfrastructure.Postgres;
using Npgsql;

namespace EmbeddingKit.Reliability.Tests.Infrastructure;

/// <summary>
/// One schema that <c>embeddingkit</c> worker processes share, with the fake provider (model <c>m</c>, 16 dimensions):
/// seeds documents through <c>embeddingkit ingest</c>, rewrites them, starts workers, and checks the invariants the
/// chaos tests assert (nothing lost, nothing stuck, nothing stale).
/// </summary>
public sealed class ChaosSchema : IAsyncDisposable
{
    public const string ApiKey = "sk-reliability-7d1e5b90-never-print-me";
    public const string Model = "m";
    public const string EntityType = "doc";
    public const int Dimensions = 16;

    private readonly string _folder;

    private ChaosSchema(string connectionString, NpgsqlDataSource dataSource, string schema, FakeEmbeddingServer provider, string folder)
    {
        ConnectionString = connectionString;
        DataSource = dataSource;
        Schema = schema;
        Provider = provider;
        _folder = folder;
        Queue = new PostgresEmbeddingTaskQueue(dataSource, schema);
        Table = new EmbeddingTable(schema, Dimensions);
    }

    /// <summary>Gets the connection string the workers use (may point at a fault proxy).</summary>
    public string ConnectionString { get; set; }

    public NpgsqlDataSource DataSource { get; }

    public string Schema { get; }

    public FakeEmbeddingServer Provider { get; }

    public PostgresEmbeddingTaskQueue Queue { get; }

    public EmbeddingTable Table { get; }

    private string Tasks => $"\"{Schema}\".embeddingkit_embedding_tasks";

    private string Dead => $"\"{Schema}\".embeddingkit_embedding_tasks_dead";

    private string Documents => $"\"{Schema}\".embeddingkit_documents";

    /// <summary>Creates a schema name and a fake provider; nothing exists in the database until <see cref="SeedAsync"/>.</summary>
    public static async Task<ChaosSchema> CreateAsync(string connectionString, CancellationToken cancellationToken)
    {
        var builder = new NpgsqlDataSourceBuilder(connectionString);
        builder.UseVector();
        var dataSource = builder.Build();
        var provider = await FakeEmbeddingServer.StartAsync(cancellationToken);
        provider.Dimensions = Dimensions;
        var folder = Directory.CreateTempSubdirectory("embeddingkit-reliability-").FullName;
        var workers = new NpgsqlConnectionStringBuilder(connectionString) { IncludeErrorDetail = true }.ConnectionString;
        return new ChaosSchema(workers, dataSource, PostgresServer.NewSchemaName("rel"), provider, folder);
    }

    /// <summary>The arguments every command of this schema needs (connection, schema, fake provider, model).</summary>
    public IEnumerable<string> CommonArguments() =>
    [
        "--connection", ConnectionString, "--schema", Schema, "--provider", "openai-compatible",
        "--base-url", Provider.BaseUrl.ToString(), "--model", Model, "--dimensions", Dimensions.ToString(CultureInfo.InvariantCulture),
        "--api-key", ApiKey,
    ];

    /// <summary>The text of document <paramref name="id"/> in version <paramref name="version"/>.</summary>
    public static string Text(int id, int version) => $"document {id} version {version}: " + string.Concat(Enumerable.Repeat("lorem ipsum ", 1 + (id % 7)));

    /// <summary>Writes <paramref name="count"/> documents (version 0) through <c>embeddingkit ingest</c>, which creates the
    /// tables and enqueues one task per document.</summary>
    public async Task SeedAsync(int count, CancellationToken cancellationToken)
    {
        var file = Path.Combine(_folder, "seed.jsonl");
        await using (var writer = new StreamWriter(file, false, new UTF8Encoding(false)))
        {
            for (var i = 0; i < count; i++)
            {
                await writer.WriteLineAsync(JsonSerializer.Serialize(new { id = Id(i), text = Text(i, 0) }).AsMemory(), cancellationToken);
            }
        }

        await using var ingest = WorkerProcess.Start("ingest", ["ingest", file, "--entity-type", EntityType, .. CommonArguments()]);
        var exit = await ingest.WaitForExitAsync(TimeSpan.FromMinutes(2));
        Assert.True(exit == 0, ingest.Describe());
    }

    public static string Id(int i) => "d" + i.ToString("D5", CultureInfo.InvariantCulture);

    /// <summary>Rewrites documents to a new version and enqueues them, in one transaction (what a host does).</summary>
    public async Task RewriteAsync(IReadOnlyList<int> ids, int version, CancellationToken cancellationToken)
    {
        await using var connection = await DataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var texts = ids.Select(i => Text(i, version)).ToArray();
        await using (var command = new NpgsqlCommand(
            $"""
            UPDATE {Documents} d SET text = u.text, content_hash = u.hash, updated_at = now()
            FROM unnest($1::text[], $2::text[], $3::bytea[]) AS u(id, text, hash)
            WHERE d.entity_type = $4 AND d.id = u.id
            """, connection, transaction))
        {
            command.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = [.. ids.Select(Id)] });
            command.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = texts });
            command.Parameters.Add(new NpgsqlParameter<byte[][]> { TypedValue = [.. texts.Select(t => SHA256.HashData(Encoding.UTF8.GetBytes(t)))] });
            command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = EntityType });
            await command.ExecuteNonQueryAsync(cancellationToken);
        }

        await Queue.EnqueueAsync([.. ids.Select(i => new EnqueueRequest(EntityType, Id(i), Model))], connection, transaction, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
    }

    /// <summary>Starts a long-running worker (<c>embeddingkit work</c>) with small batches and short leases.</summary>
    public WorkerProcess StartWorker(string name, int leaseSeconds = 3, int concurrency = 2, int batchSize = 16, bool untilIdle = false, bool json = false, IEnumerable<string>? extra = null)
    {
        List<string> arguments =
        [
            "work", "--lease-seconds", leaseSeconds.ToString(CultureInfo.InvariantCulture),
            "--concurrency", concurrency.ToString(CultureInfo.InvariantCulture),
            "--batch-size", batchSize.ToString(CultureInfo.InvariantCulture),
            "--max-batch-size", "8", "--max-concurrency", "2",
        ];
        if (untilIdle)
        {
            arguments.Add("--until-idle");
        }

        if (json)
        {
            arguments.Add("--json");
        }

        arguments.AddRange(extra ?? []);
        if (Environment.GetEnvironmentVariable("EMBEDDINGKIT_RELIABILITY_VERBOSE") == "1")
        {
            arguments.Add("--verbose");
        }

        arguments.AddRange(CommonArguments());
        return WorkerProcess.Start(name, arguments);
    }

    public async Task<long> CountAsync(string sql, CancellationToken cancellationToken = default)
    {
        await using var command = DataSource.CreateCommand(sql
            .Replace("{tasks}", Tasks, StringComparison.Ordinal)
            .Replace("{dead}", Dead, StringComparison.Ordinal)
            .Replace("{documents}", Documents, StringComparison.Ordinal)
            .Replace("{vectors}", Table.QualifiedName, StringComparison.Ordinal));
        return Convert.ToInt64(await command.ExecuteScalarAsync(cancellationToken), CultureInfo.InvariantCulture);
    }

    /// <summary>Outstanding tasks (any state).</summary>
    public Task<long> OutstandingAsync(CancellationToken cancellationToken = default) => CountAsync("SELECT count(*) FROM {tasks}", cancellationToken);

    /// <summary>Waits until no task is outstanding, at most <paramref name="timeout"/> (less when every worker given has
    /// exited); returns whether it got there.</summary>
    public async Task<bool> WaitForDrainAsync(TimeSpan timeout, IReadOnlyList<WorkerProcess>? workers = null, CancellationToken cancellationToken = default)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (workers is { Count: > 0 } && workers.All(w => w.HasExited))
            {
                return await OutstandingAsync(cancellationToken) == 0;
            }

            if (await OutstandingAsync(cancellationToken) == 0)
            {
                return true;
            }

            await Task.Delay(200, cancellationToken);
        }

        return false;
    }

    /// <summary>Reads the invariants: what is stored against the latest document of every entity.</summary>
    public async Task<ChaosCheck> CheckAsync(CancellationToken cancellationToken = default)
    {
        var documents = 0L;
        var vectors = 0L;
        var stale = 0L;
        var missing = 0L;
        var lost = 0L;

        // The content hash covers what determines the vector, so the check hashes with the model as the workers'
        // `--provider openai-compatible --model m --dimensions 16` build it (no request is sent).
        using var generator = OpenAICompatibleEmbeddingGenerator.Create(new OpenAICompatibleEmbeddingOptions
        {
            BaseUrl = Provider.BaseUrl,
            Model = Model,
            Dimensions = Dimensions,
            ProviderName = "openai-compatible",
        });
        var workerModel = new EmbeddingModel(Model, Dimensions, generator);
        await using (var command = DataSource.CreateCommand(
            $"""
            SELECT d.id, d.text, v.content_hash,
                   EXISTS (SELECT 1 FROM {Tasks} t WHERE t.entity_type = d.entity_type AND t.entity_id = d.id) AS queued,
                   EXISTS (SELECT 1 FROM {Dead} x WHERE x.entity_type = d.entity_type AND x.entity_id = d.id) AS dead
            FROM {Documents} d
            LEFT JOIN {Table.QualifiedName} v ON v.entity_type = d.entity_type AND v.entity_id = d.id AND v.model = $1
            WHERE d.entity_type = $2
            """))
        {
            command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = Model });
            command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = EntityType });
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                documents++;
                var queued = reader.GetBoolean(3) || reader.GetBoolean(4);
                if (reader.IsDBNull(2))
                {
                    missing++;
                    lost += queued ? 0 : 1;
                    continue;
                }

                vectors++;
                var expected = ContentHash.Compute(workerModel, reader.GetString(1));
                if (!expected.AsSpan().SequenceEqual(reader.GetFieldValue<byte[]>(2)))
                {
                    stale++;
                    lost += queued ? 0 : 1;
                }
            }
        }

        return new ChaosCheck
        {
            Documents = documents,
            Vectors = vectors,
            StaleVectors = stale,
            MissingVectors = missing,
            Lost = lost,
            Outstanding = await OutstandingAsync(cancellationToken),
            LeasedPastExpiry = await CountAsync("SELECT count(*) FROM {tasks} WHERE lease_token IS NOT NULL AND run_at <= now()", cancellationToken),
            Leased = await CountAsync("SELECT count(*) FROM {tasks} WHERE lease_token IS NOT NULL", cancellationToken),
            Dead = await CountAsync("SELECT count(*) FROM {dead}", cancellationToken),
        };
    }

    public async ValueTask DisposeAsync()
    {
        await Provider.DisposeAsync();
        await DataSource.DisposeAsync();
        try
        {
            Directory.Delete(_folder, recursive: true);
        }
        catch (IOException)
        {
            // A worker may still hold a file; the temp folder is cleaned by the system.
        }
    }
}
