using System.Globalization;
using EmbeddingKit.Hosting;
using EmbeddingKit.Postgres.Migrations;
using EmbeddingKit.Postgres.Rollout;
using EmbeddingKit.Postgres.Search;
using EmbeddingKit.Postgres.Storage;
using EmbeddingKit.Postgres.Tasks;
using EmbeddingKit.Runtime;
using EmbeddingKit.Samples;
using EmbeddingKit.Tasks;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using ModelRollout;
using Npgsql;

// A model change end to end, as a script: dual-write, backfill with progress, coverage check (a refused switch),
// switch, fallback while partial, retire. Every step checks what it claims and the program exits 1 if one does not hold.
//
//   dotnet run --project samples/ModelRollout -- --connection "Host=...;Username=...;Database=..." --schema rollout_demo
var configuration = new ConfigurationBuilder()
    .AddJsonFile(Path.Combine(AppContext.BaseDirectory, "appsettings.json"), optional: true)
    .AddEnvironmentVariables()
    .AddCommandLine(args, new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["--connection"] = "ConnectionStrings:EmbeddingKit",
        ["--schema"] = "EmbeddingKit:Schema",
        ["--reset"] = "Sample:Reset",
    })
    .Build();

try
{
    await RunAsync(configuration);
    return 0;
}
catch (Exception e) when (e is RolloutCheckFailedException or NpgsqlException or InvalidOperationException)
{
    Console.Error.WriteLine($"FAILED: {e.Message}");
    return 1;
}

static async Task RunAsync(IConfiguration configuration)
{
    var connectionString = configuration.GetConnectionString("EmbeddingKit")
        ?? throw new InvalidOperationException("Set ConnectionStrings:EmbeddingKit (or --connection).");
    var schema = configuration["EmbeddingKit:Schema"] ?? "modelrollout";
    var documentCount = configuration.GetValue("Sample:Documents", 24);
    var current = SampleEmbedder.FromConfiguration(configuration.GetSection("EmbeddingKit:Models:Current"));
    var next = SampleEmbedder.FromConfiguration(configuration.GetSection("EmbeddingKit:Models:Next"));
    const string Type = DocumentsTable.EntityType;

    var dataSourceBuilder = new NpgsqlDataSourceBuilder(connectionString);
    dataSourceBuilder.UseVector();
    await using var dataSource = dataSourceBuilder.Build();
    await PrepareSchemaAsync(dataSource, schema, configuration.GetValue("Sample:Reset", false));

    // #region wiring
    // The application today, composed as any host composes EmbeddingKit: its model, its documents, PostgreSQL. UsePostgres
    // registers the queue, the storage (a table per dimension), the rollout state, search and the index manager.
    var documents = new DocumentsTable(dataSource, schema);
    await using var today = Compose(dataSource, schema, documents, current);
    var queue = today.GetRequiredService<PostgresEmbeddingTaskQueue>();
    var rollout = today.GetRequiredService<EmbeddingRollout>();
    // #endregion wiring

    Step("1. Today: the current model embeds every document and answers search");
    await EmbeddingKitMigrations.ApplyAsync(dataSource, schema);
    await documents.EnsureCreatedAsync();
    var indexes = today.GetRequiredService<EmbeddingIndexManager>();
    var tables = new[] { current, next }.ToDictionary(m => m.Name, m => new EmbeddingTable(schema, m.Dimensions), StringComparer.Ordinal);
    foreach (var (model, table) in tables)
    {
        await indexes.EnsureTableAsync(table);
        await indexes.EnsureModelIndexesAsync(table, model);   // per-model partial HNSW + binary-quantized indexes
    }

    var bodies = new Dictionary<string, string>(StringComparer.Ordinal);
    var before = today.GetRequiredService<EmbeddingRuntime>();
    for (var i = 1; i <= documentCount; i++)
    {
        var id = "doc-" + i.ToString("D3", CultureInfo.InvariantCulture);
        bodies[id] = $"Document {i}: {Topics[i % Topics.Length]} (revision {i * 7 % 11})";
        await WriteAsync(dataSource, documents, queue, before.Registry, id, bodies[id]);
    }

    await DrainAsync(queue, before);
    var active = await rollout.ActivateAsync(Type, current.Name, await documents.CountAsync());
    Console.WriteLine($"   {documentCount} documents embedded with {current.Name}; active model: {active.Model} (coverage {active.Coverage:P0})");

    // #region dual-write
    Step($"2. Dual-write: register {next.Name} beside {current.Name}; every write now enqueues both");
    await using var during = Compose(dataSource, schema, documents, current, next);   // both WriteByDefault
    var registry = during.GetRequiredService<EmbeddingModelRegistry>();
    var runtime = during.GetRequiredService<EmbeddingRuntime>();
    var storage = during.GetRequiredService<PgvectorEmbeddingStorage>();
    var search = during.GetRequiredService<EmbeddingSearchService>();
    rollout = during.GetRequiredService<EmbeddingRollout>();
    bodies["doc-new"] = "A document written during the rollout is embedded by both models";
    await WriteAsync(dataSource, documents, queue, registry, "doc-new", bodies["doc-new"]);
    await DrainAsync(queue, runtime);
    var total = await documents.CountAsync();
    Console.WriteLine($"   {await CoverageAsync(rollout, Type, next.Name, total)} after one write");
    // #endregion dual-write

    // #region backfill
    Step($"3. Backfill {next.Name}: enqueue what it misses (low priority, resumable), drain with progress");
    var enqueued = await rollout.BackfillAsync(
        Type, next.Name, documents.ListIdsAsync(), batchSize: 10,
        progress: new ConsoleProgress(n => Console.WriteLine($"   enqueued {n} backfill task(s)")));
    Expect(enqueued == documentCount, $"the backfill enqueues the {documentCount} documents {next.Name} misses (got {enqueued})");

    // Drain only until half is covered, to show what happens while a model is partial.
    while ((await rollout.GetCoverageAsync(Type, next.Name, total)).Ratio < 0.5)
    {
        await queue.DrainOnceAsync(runtime, batchSize: 4, workerId: "rollout-sample");
        Console.WriteLine($"   {await CoverageAsync(rollout, Type, next.Name, total)}");
    }
    // #endregion backfill

    // #region coverage-check
    Step($"4. Coverage check: switching search to {next.Name} now is refused");
    try
    {
        await rollout.ActivateAsync(Type, next.Name, total);
        throw new RolloutCheckFailedException("activation below full coverage was accepted");
    }
    catch (CoverageTooLowException refused)
    {
        Console.WriteLine($"   refused: {refused.Coverage.Stored}/{refused.Coverage.Total} stored, {refused.Required:P0} required");
    }
    // #endregion coverage-check

    // #region switch-partial
    Step($"5. Switch at >= 50% coverage: search answers with {next.Name} and falls back to {current.Name} for the rest");
    active = await rollout.ActivateAsync(Type, next.Name, total, minCoverage: 0.5);
    Console.WriteLine($"   active: {active.Model} (coverage {active.Coverage:P0}), fallback: {active.PreviousModel}");
    var states = await storage.GetStatesAsync(Type, next.Name, [.. bodies.Keys]);
    var missing = bodies.Keys.Where(id => !states.ContainsKey(id)).Order(StringComparer.Ordinal).First();
    var partial = await search.SearchAsync(bodies[missing], Type, k: 5);
    Print(partial);
    Expect(partial.FallbackUsed, "search reports that it used the fallback");
    Expect(partial.Hits.Any(h => h.EntityId == missing && h.Path == "fallback-model" && h.Model == current.Name),
        $"{missing}, not yet embedded by {next.Name}, is found through {current.Name}");
    // #endregion switch-partial

    // #region complete
    Step("6. Finish the backfill and confirm the switch at full coverage");
    await DrainAsync(queue, runtime);
    active = await rollout.ActivateAsync(Type, next.Name, total);
    var complete = await search.SearchAsync(bodies[missing], Type, k: 5);
    Console.WriteLine($"   {await CoverageAsync(rollout, Type, next.Name, total)}; active: {active.Model} (coverage {active.Coverage:P0})");
    Print(complete);
    Expect(!complete.FallbackUsed, "no fallback once the active model covers everything");
    var defaultPath = VectorSearchDefaults.PathFor(next.Dimensions) == SearchPath.TwoStage ? "two-stage" : "hnsw";
    Expect(complete.Hits[0] is { } top && top.Path == defaultPath && top.EntityId == missing && top.Model == next.Name,
        $"{missing} is now the top hit of {next.Name} through {defaultPath} search (the default path of {next.Dimensions} dimensions)");
    // #endregion complete

    // #region retire
    Step($"7. Retire {current.Name}: its vectors, tasks and indexes go");
    var (vectors, tasks) = await rollout.RetireModelAsync(current.Name);
    await indexes.DropModelIndexesAsync(tables[current.Name], current.Name);
    Console.WriteLine($"   deleted {vectors} vector(s) and {tasks} task(s) of {current.Name}");
    Expect(await storage.CountAsync(Type, current.Name) == 0, $"no {current.Name} vector is left");
    Expect((await rollout.GetActiveAsync(Type))?.PreviousModel is null, "the active model has no fallback any more");
    // #endregion retire

    Console.WriteLine();
    Console.WriteLine($"Rollout complete: {Type} search now runs on {next.Name}.");
}

// The application's composition: AddEmbeddingKit with its models, its document builder and PostgreSQL.
static ServiceProvider Compose(NpgsqlDataSource dataSource, string schema, DocumentsTable documents, params EmbeddingModel[] models)
{
    var services = new ServiceCollection();
    services.AddEmbeddingKit(kit =>
    {
        foreach (var model in models)
        {
            kit.AddModel(model);
        }

        kit.UseDocumentBuilder(documents).UsePostgres(dataSource, schema);
    });
    return services.BuildServiceProvider();
}

static async Task PrepareSchemaAsync(NpgsqlDataSource dataSource, string schema, bool reset)
{
    await using var exists = dataSource.CreateCommand("SELECT EXISTS (SELECT FROM pg_namespace WHERE nspname = $1)");
    exists.Parameters.Add(new NpgsqlParameter<string> { TypedValue = schema });
    if ((bool)(await exists.ExecuteScalarAsync())!)
    {
        if (!reset)
        {
            throw new InvalidOperationException($"Schema \"{schema}\" already exists. Use a new one (--schema) or pass --reset true to drop it first.");
        }

        await using var drop = dataSource.CreateCommand($"DROP SCHEMA \"{schema.Replace("\"", "\"\"", StringComparison.Ordinal)}\" CASCADE");
        await drop.ExecuteNonQueryAsync();
        Console.WriteLine($"Dropped schema \"{schema}\".");
    }
}

// The host's write path: the document and its embedding tasks (one per write model) commit together.
static async Task WriteAsync(NpgsqlDataSource dataSource, DocumentsTable documents, PostgresEmbeddingTaskQueue queue, EmbeddingModelRegistry registry, string id, string body)
{
    await using var connection = await dataSource.OpenConnectionAsync();
    await using var transaction = await connection.BeginTransactionAsync();
    await documents.UpsertAsync(id, body, connection, transaction);
    await queue.EnqueueAsync([.. registry.WriteModels.Select(m => new EnqueueRequest(DocumentsTable.EntityType, id, m))], connection, transaction);
    await transaction.CommitAsync();
}

static async Task DrainAsync(PostgresEmbeddingTaskQueue queue, EmbeddingRuntime runtime)
{
    while ((await queue.DrainOnceAsync(runtime, batchSize: 64, workerId: "rollout-sample")).Claimed > 0)
    {
    }
}

static async Task<string> CoverageAsync(EmbeddingRollout rollout, string type, string model, long total)
{
    var coverage = await rollout.GetCoverageAsync(type, model, total);
    return $"{model} coverage: {coverage.Stored}/{coverage.Total} ({coverage.Ratio:P0})";
}

static void Print(EmbeddingSearchResult result)
{
    Console.WriteLine($"   search (active {result.Model}, fallback used: {result.FallbackUsed}):");
    foreach (var hit in result.Hits)
    {
        Console.WriteLine($"     {hit.EntityId,-8} {hit.Score,7:F3}  {hit.Model ?? "-",-12} {hit.Path}");
    }
}

static void Step(string title)
{
    Console.WriteLine();
    Console.WriteLine(title);
}

static void Expect(bool condition, string what)
{
    if (!condition)
    {
        throw new RolloutCheckFailedException(what);
    }

    Console.WriteLine($"   ok: {what}");
}

/// <summary>Program state shared by the local functions.</summary>
internal static partial class Program
{
    private static readonly string[] Topics =
    [
        "rotating API keys without downtime", "sizing an HNSW index for ten million vectors",
        "retrying rate-limited embedding requests", "binary quantization and rescoring",
        "leases and generations in a task queue", "dual-writing two embedding models",
        "full-text search as a fallback", "half-precision vectors in PostgreSQL",
    ];
}
