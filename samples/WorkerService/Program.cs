using EmbeddingKit.Diagnostics;
using EmbeddingKit.Hosting;
using EmbeddingKit.Postgres.Tasks;
using EmbeddingKit.Samples;
using Npgsql;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

// A standalone worker host: everything comes from appsettings.json, then environment variables
// (ConnectionStrings__EmbeddingKit, EmbeddingKit__Schema, EmbeddingKit__Worker__Concurrency, ...), then the command line.
var builder = Host.CreateApplicationBuilder(args);
var configuration = builder.Configuration;

var connectionString = configuration.GetConnectionString("EmbeddingKit")
    ?? throw new InvalidOperationException("Set ConnectionStrings:EmbeddingKit.");
var schema = configuration["EmbeddingKit:Schema"] ?? "workerservice";
var dataSourceBuilder = new NpgsqlDataSourceBuilder(connectionString);
dataSourceBuilder.UseVector();
var dataSource = dataSourceBuilder.Build();
var documents = new DocumentsTable(dataSource, schema);

// #region worker
builder.Services.AddEmbeddingKit(kit => kit
    .AddModel(SampleEmbedder.FromConfiguration(configuration.GetSection("EmbeddingKit:Embedder")))
    .UseDocumentBuilder(documents)
    .UsePostgres(dataSource, schema, applyMigrationsOnStart: true)   // queue options bound from "EmbeddingKit:Queue"
    .AddWorker());                                      // EmbeddingWorkerOptions bound from "EmbeddingKit:Worker"
// #endregion worker

// #region telemetry
// EmbeddingKit has one Meter and one ActivitySource, both named "EmbeddingKit" (EmbeddingKitDiagnostics.Name).
// Swap the console exporter for OTLP (OpenTelemetry.Exporter.OpenTelemetryProtocol) in production.
var telemetry = configuration.GetSection("Telemetry");
builder.Services.AddOpenTelemetry()
    .ConfigureResource(resource => resource.AddService("embeddingkit-worker"))
    .WithMetrics(metrics =>
    {
        metrics.AddMeter(EmbeddingKitDiagnostics.Name);
        if (telemetry.GetValue("ConsoleExporter", true))
        {
            metrics.AddConsoleExporter((_, reader) =>
                reader.PeriodicExportingMetricReaderOptions.ExportIntervalMilliseconds = telemetry.GetValue("MetricExportIntervalMilliseconds", 60_000));
        }
    })
    .WithTracing(tracing =>
    {
        tracing.AddSource(EmbeddingKitDiagnostics.Name);
        if (telemetry.GetValue("ConsoleExporter", true) && telemetry.GetValue("ConsoleTraces", false))
        {
            tracing.AddConsoleExporter();
        }
    });
// #endregion telemetry

using var host = builder.Build();

// The sample owns a small domain table so it runs on its own; a real worker reads the tables of the application that
// enqueues (the same schema and document builder as the web app).
await documents.EnsureCreatedAsync();
await host.RunAsync();
await dataSource.DisposeAsync();
