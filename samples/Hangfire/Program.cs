using EmbeddingKit.Hosting;
using EmbeddingKit.Samples;
using Hangfire;
using DrainWithHangfire;
using Npgsql;

// The queue drained by Hangfire instead of EmbeddingKit's own worker: no AddWorker(), a recurring job instead.
var builder = Host.CreateApplicationBuilder(args);
var configuration = builder.Configuration;
var connectionString = configuration.GetConnectionString("EmbeddingKit")
    ?? throw new InvalidOperationException("Set ConnectionStrings:EmbeddingKit.");
var schema = configuration["EmbeddingKit:Schema"] ?? "hangfiresample";
var dataSourceBuilder = new NpgsqlDataSourceBuilder(connectionString);
dataSourceBuilder.UseVector();
var dataSource = dataSourceBuilder.Build();
var documents = new DocumentsTable(dataSource, schema);
builder.Services.AddSingleton(documents);

// #region registration
builder.Services.AddEmbeddingKit(kit => kit
    .AddModel(SampleEmbedder.FromConfiguration(configuration.GetSection("EmbeddingKit:Embedder")))
    .UseDocumentBuilder(documents)
    .UsePostgres(dataSource, schema, applyMigrationsOnStart: true));   // queue + storage; no AddWorker()

builder.Services.AddHangfire(hangfire => hangfire.UseInMemoryStorage());   // any Hangfire storage works
builder.Services.AddHangfireServer();
builder.Services.AddTransient<DrainEmbeddingQueueJob>();
// #endregion registration
builder.Services.AddHostedService<SeedDocuments>();

using var host = builder.Build();

// #region schedule
// Every minute by default (Drain:Cron); each run drains until nothing is ready.
host.Services.GetRequiredService<IRecurringJobManager>().AddOrUpdate<DrainEmbeddingQueueJob>(
    "embeddingkit-drain", job => job.RunAsync(CancellationToken.None), configuration["Drain:Cron"] ?? Cron.Minutely());
// #endregion schedule

await host.RunAsync();
await dataSource.DisposeAsync();
