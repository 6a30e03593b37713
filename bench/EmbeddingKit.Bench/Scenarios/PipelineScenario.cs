using System.Diagnostics;
using System.Globalization;
using EmbeddingKit.Hosting;
using EmbeddingKit.OpenAI;
using EmbeddingKit.Postgres.Migrations;
using EmbeddingKit.Postgres.Storage;
using EmbeddingKit.Postgres.Tasks;
using EmbeddingKit.Runtime;
using EmbeddingKit.Tasks;
using EmbeddingKit.TestInfrastructure.FakeProvider;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace EmbeddingKit.Bench.Scenarios;

/// <summary>
/// Documents per second from enqueue to stored, through the real worker, runtime, OpenAI-compatible client and pgvector
/// storage, against the fake provider at 100 ms per request, 64 inputs per request and 8 requests in flight: the
/// provider-bound ceiling is 8 × 64 / 0.1 s = 5,120 documents/s. Composed as a host composes it:
/// <c>AddEmbeddingKit(...).UsePostgres(...).AddWorker(...)</c>.
/// </summary>
internal sealed class PipelineScenario : IBenchScenario
{
    private const int Dimensions = 768;
    private const int Batch = 64;
    private const int InFlight = 8;
    private static readonly TimeSpan Latency = TimeSpan.FromMilliseconds(100);

    public string Name => "pipeline";

    public string Description => "enqueue → worker → provider (100 ms, batch 64, 8 in flight) → stored halfvec(768): docs/s vs the provider-bound ceiling";

    public async Task<BenchResult> RunAsync(BenchContext context, CancellationToken cancellationToken)
    {
        var documents = context.Integer("--docs", 30_000);
        var connectionString = await context.GetConnectionStringAsync(cancellationToken);
        var builder = new NpgsqlDataSourceBuilder(connectionString);
        builder.UseVector();
        builder.ConnectionStringBuilder.MaxPoolSize = 40;
        builder.ConnectionStringBuilder.WriteBufferSize = context.Integer("--write-buffer", 8192);

        // --auto-prepare N: Npgsql's Max Auto Prepare (0, its default, = off): statements run often are prepared once per
        // physical connection, so PostgreSQL stops parsing and planning the claim, upsert and complete every batch.
        builder.ConnectionStringBuilder.MaxAutoPrepare = context.Integer("--auto-prepare", 0);
        await using var dataSource = builder.Build();
        var schema = "bench_pipeline_" + Guid.NewGuid().ToString("N")[..8];
        await EmbeddingKitMigrations.ApplyAsync(dataSource, schema, cancellationToken);

        await using var provider = await FakeEmbeddingServer.StartAsync(cancellationToken);
        provider.Dimensions = Dimensions;
        provider.MaxBatchSize = Batch;
        provider.Latency = TimeSpan.FromMilliseconds(context.Integer("--latency-ms", (int)Latency.TotalMilliseconds));
        var generator = OpenAICompatibleEmbeddingGenerator.Create(new OpenAICompatibleEmbeddingOptions
        {
            BaseUrl = provider.BaseUrl,
            ApiKey = "bench",
            Model = "bench-768",
            Dimensions = Dimensions,
            MaxInputsPerRequest = Batch,
            MaxConcurrentRequests = InFlight,
        });
        var texts = new InMemoryBuilder(documents);

        // More loops than requests in flight: while 8 requests wait on the provider (the generator's limit), the other
        // loops claim, build, store and complete, so database work hides behind provider latency.
        var loops = context.Integer("--loops", 12);

        // --lexical 0 turns the lexical index off (EmbeddingSearchOptions.LexicalIndex): its tsvector writes are what
        // hybrid search costs the write path.
        var lexical = context.Integer("--lexical", 1) != 0;
        var services = new ServiceCollection();
        services.Configure<EmbeddingKit.Postgres.Search.EmbeddingSearchOptions>(o => o.LexicalIndex = lexical);
        services.AddEmbeddingKit(kit => kit
            .AddModel(new EmbeddingModel("bench-768", Dimensions, generator) { BatchSize = Batch, MaxConcurrentBatches = 1 })
            .UseDocumentBuilder(texts)
            .UsePostgres(dataSource, schema)
            .AddWorker(o =>
            {
                o.Concurrency = loops;
                o.BatchSize = Batch;
                o.PollInterval = TimeSpan.FromMilliseconds(50);
                o.StatsInterval = TimeSpan.Zero;
            }));
        await using var container = services.BuildServiceProvider();
        var runtime = container.GetRequiredService<EmbeddingRuntime>();
        var storage = container.GetRequiredService<PgvectorEmbeddingStorage>();
        var worker = container.GetRequiredService<EmbeddingWorker>();
        await container.GetRequiredService<EmbeddingIndexManager>().EnsureTableAsync(storage.GetTable("bench-768"), cancellationToken);

        // Warm-up, off the clock: the first batches pay for JIT compilation, the provider's HTTP connections and the
        // database connections; a worker that runs for hours does not. By default rounds of 4,096 documents until the JIT
        // has settled (JitWarmup; a fixed 1,024 documents measured the tier-up: 220 µs of process CPU per document
        // against 95-113 settled). --warmup N: one round of N documents instead.
        var fixedWarmup = context.Integer("--warmup", 0);
        var warmupRound = fixedWarmup > 0 ? fixedWarmup : 4_096;
        var maxRounds = fixedWarmup > 0 ? 1 : context.Integer("--warmup-rounds", 40);
        await worker.StartAsync(cancellationToken);
        var rounds = await JitWarmup.UntilSettledAsync(
            async round =>
            {
                var first = round * warmupRound;
                await runtime.EnqueueTextEmbeddingAsync("warmup", Enumerable.Range(first, warmupRound).Select(i => i.ToString(CultureInfo.InvariantCulture)), cancellationToken: cancellationToken);
                while (worker.Completed < first + warmupRound)
                {
                    await Task.Delay(5, cancellationToken);
                }
            },
            maxRounds);
        var warmup = rounds * warmupRound;

        var warmupRequests = provider.RequestCount;
        var warmupInputs = provider.InputCount;
        var completedBefore = worker.Completed;
        var providerSeconds = new System.Collections.Concurrent.ConcurrentQueue<double>();
        var batchSeconds = new System.Collections.Concurrent.ConcurrentQueue<double>();
        using var listener = new System.Diagnostics.Metrics.MeterListener();
        var clientSeconds = new System.Collections.Concurrent.ConcurrentQueue<double>();
        var serverSeconds = new System.Collections.Concurrent.ConcurrentQueue<double>();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if ((instrument.Meter.Name == "EmbeddingKit" && instrument.Name is "embeddingkit.provider.duration" or "embeddingkit.batch.duration")
                || instrument.Name is "http.client.request.duration" or "http.server.request.duration")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<double>((instrument, value, _, _) => (instrument.Name switch
        {
            "embeddingkit.provider.duration" => providerSeconds,
            "http.client.request.duration" => clientSeconds,
            "http.server.request.duration" => serverSeconds,
            _ => batchSeconds,
        }).Enqueue(value));
        listener.Start();

        // Database round trips of the measured part (enqueue, claim, build, store, complete), counted from Npgsql's
        // activities: one per command or batch sent.
        long statements = 0;
        using var commands = new ActivityListener
        {
            ShouldListenTo = source => source.Name == "Npgsql",
            Sample = (ref _) => ActivitySamplingResult.AllData,
            ActivityStopped = _ => Interlocked.Increment(ref statements),
        };
        ActivitySource.AddActivityListener(commands);
        var pauseBefore = GC.GetTotalPauseDuration();
        var gen2Before = GC.CollectionCount(2);
        var cpuBefore = Environment.CpuUsage.TotalTime;
        var jitBefore = System.Runtime.JitInfo.GetCompilationTime();
        var jitMethodsBefore = System.Runtime.JitInfo.GetCompiledMethodCount();
        var watch = Stopwatch.StartNew();
        for (var start = 0; start < documents; start += 1_000)
        {
            await runtime.EnqueueTextEmbeddingAsync("doc", Enumerable.Range(start, Math.Min(1_000, documents - start)).Select(i => i.ToString(CultureInfo.InvariantCulture)), cancellationToken: cancellationToken);
        }

        // The worker counts a task as completed after its vector was committed; polling its counter keeps the clock off
        // the database (a COUNT(*) every few milliseconds would compete with the pipeline it measures).
        while (worker.Completed - completedBefore < documents)
        {
            await Task.Delay(5, cancellationToken);
        }

        var elapsed = watch.Elapsed.TotalSeconds;
        var measuredStatements = Interlocked.Read(ref statements);
        var processCpu = Environment.CpuUsage.TotalTime - cpuBefore;
        var gcPause = GC.GetTotalPauseDuration() - pauseBefore;
        var gen2 = GC.CollectionCount(2) - gen2Before;
        var jit = System.Runtime.JitInfo.GetCompilationTime() - jitBefore;
        var jitMethods = System.Runtime.JitInfo.GetCompiledMethodCount() - jitMethodsBefore;
        await worker.StopAsync(CancellationToken.None);
        var stored = await storage.CountAsync("doc", "bench-768", cancellationToken);
        if (stored != documents)
        {
            throw new InvalidOperationException($"the worker completed {worker.Completed - completedBefore} tasks but {stored} vectors are stored for {documents} documents");
        }
        var ceiling = InFlight * Batch / Latency.TotalSeconds;
        var result = new BenchResult { TableHeader = ["documents", "seconds", "docs/s", "ceiling docs/s", "efficiency", "requests", "max in flight"] };
        var perSecond = stored / elapsed;
        result.Metrics["docs_per_s"] = Math.Round(perSecond);
        result.Metrics["ceiling_docs_per_s"] = ceiling;
        result.Metrics["efficiency"] = Math.Round(perSecond / ceiling, 3);
        result.Metrics["provider_requests"] = provider.RequestCount - warmupRequests;
        result.Metrics["provider_inputs_per_doc"] = Math.Round((provider.InputCount - warmupInputs) / (double)documents, 3);
        result.Table.Add([F(stored), elapsed.ToString("F1", CultureInfo.InvariantCulture), F(perSecond), F(ceiling), (perSecond / ceiling).ToString("P1", CultureInfo.InvariantCulture), F(provider.RequestCount - warmupRequests), F(provider.MaxConcurrentRequests)]);
        result.Metrics["provider_call_p50_ms"] = Math.Round(Percentile(providerSeconds, 0.5) * 1000, 1);
        result.Metrics["provider_call_p99_ms"] = Math.Round(Percentile(providerSeconds, 0.99) * 1000, 1);
        result.Metrics["http_client_p50_ms"] = Math.Round(Percentile(clientSeconds, 0.5) * 1000, 1);
        result.Metrics["http_server_p50_ms"] = Math.Round(Percentile(serverSeconds, 0.5) * 1000, 1);
        result.Metrics["batch_p50_ms"] = Math.Round(Percentile(batchSeconds, 0.5) * 1000, 1);
        result.Metrics["process_cpu_us_per_doc"] = Math.Round(processCpu.TotalMicroseconds / documents, 1);
        result.Metrics["gc_pause_ms"] = Math.Round(gcPause.TotalMilliseconds, 1);
        result.Metrics["gc_gen2_collections"] = gen2;
        // JIT work inside the measured part (tier-up and re-compilation with profile data; a worker that has run for an
        // hour has none): how far the warm-up is from steady state.
        result.Metrics["jit_ms"] = Math.Round(jit.TotalMilliseconds, 1);
        result.Metrics["jit_methods"] = jitMethods;
        result.Metrics["warmup_docs"] = warmup;
        result.Metrics["statements_per_task"] = Math.Round(measuredStatements / (double)documents, 3);

        // The worker's own cost per document: batch time outside the provider call (build, store, complete), summed.
        result.Metrics["write_ms_per_doc"] = Math.Round((batchSeconds.Sum() - providerSeconds.Sum()) * 1000 / documents, 3);
        result.Metrics["lexical_index"] = lexical ? 1 : 0;
        result.Notes["setup"] = $"{documents} docs after a warm-up of {warmup}, worker loops {loops}, batch {Batch}, {InFlight} requests in flight, fake provider latency 100 ms, halfvec({Dimensions}) table without ANN index; composed through AddEmbeddingKit().UsePostgres().AddWorker(); statements_per_task = Npgsql commands (round trips) of the measured part per document";
        await using var drop = dataSource.CreateCommand($"DROP SCHEMA \"{schema}\" CASCADE");
        await drop.ExecuteNonQueryAsync(cancellationToken);
        return result;
    }

    private static double Percentile(IEnumerable<double> values, double quantile)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length == 0 ? double.NaN : sorted[Math.Min(sorted.Length - 1, (int)(quantile * sorted.Length))];
    }

    private static string F(double value) => value.ToString("N0", CultureInfo.InvariantCulture);

    private sealed class InMemoryBuilder(int count) : IDocumentBuilder
    {
        public ValueTask<IReadOnlyDictionary<string, DocumentResult>> BuildAsync(string entityType, IReadOnlyList<string> entityIds, CancellationToken cancellationToken = default)
        {
            IReadOnlyDictionary<string, DocumentResult> result = entityIds.ToDictionary(
                id => id,
                id => entityType != "doc" || int.Parse(id, CultureInfo.InvariantCulture) < count ? DocumentResult.Text($"document {id}: a few words about vector search, queues and PostgreSQL") : DocumentResult.Gone,
                StringComparer.Ordinal);
            return ValueTask.FromResult(result);
        }
    }
}
