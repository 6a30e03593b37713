using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using EmbeddingKit.Postgres.Storage;
using EmbeddingKit.Postgres.Tasks;
using EmbeddingKit.Tasks;
using EmbeddingKit.TestInfrastructure;
using EmbeddingKit.TestInfrastructure.FakeProvider;
using Npgsql;

namespace EmbeddingKit.Bench.Scenarios;

/// <summary>
/// Throughput of 1, 2 and 4 <c>embeddingkit work</c> processes on one PostgreSQL against the fake provider at 100 ms
/// latency. Each process is sized so that the provider is its bottleneck (3 loops of 4 tasks, 2 requests of 4 inputs in flight:
/// a ceiling of 80 docs/s per process; <c>--inputs</c> and <c>--in-flight</c> change it), so the ideal is linear
/// scaling until the machine's CPU is the limit. Workers are started, ready and warmed up (three batches each) before the
/// tasks are enqueued; the clock runs from the enqueue to an empty queue.
/// </summary>
internal sealed class ScaleoutScenario : IBenchScenario
{
    private const int Dimensions = 64;
    private static int InputsPerRequest = 4;
    private static int RequestsInFlight = 2;
    private const int WarmupBatchesPerProcess = 3;

    // One loop more than requests in flight, each claiming one request's worth: while the provider works on two
    // batches, the third loop stores, completes and claims, so database round trips hide behind provider latency.
    private static int Loops = 3;
    private static int BatchPerLoop = 4;
    private static readonly TimeSpan Latency = TimeSpan.FromMilliseconds(100);

    public string Name => "scaleout";

    public string Description => "1, 2 and 4 `embeddingkit work` processes on one PostgreSQL, provider-bound (100 ms, 2 x 4 inputs in flight per process, 3 loops): docs/s and scaling";

    public async Task<BenchResult> RunAsync(BenchContext context, CancellationToken cancellationToken)
    {
        var documents = context.Integer("--docs", 1_600);
        InputsPerRequest = context.Integer("--inputs", InputsPerRequest);
        RequestsInFlight = context.Integer("--in-flight", RequestsInFlight);
        Loops = context.Integer("--loops", RequestsInFlight + 1);
        BatchPerLoop = context.Integer("--batch", InputsPerRequest);
        var cli = LocateCli();
        var connectionString = await context.GetConnectionStringAsync(cancellationToken);
        await using var provider = await FakeEmbeddingServer.StartAsync(cancellationToken);
        provider.Dimensions = Dimensions;
        provider.Latency = Latency;
        var result = new BenchResult { TableHeader = ["processes", "documents", "seconds", "docs/s", "ceiling docs/s", "speed-up", "provider calls/doc", "provider inputs/doc"] };
        double? single = null;
        foreach (var processes in new[] { 1, 2, 4 })
        {
            var run = await RunOnceAsync(context, cli, connectionString, provider, processes, documents, cancellationToken);
            single ??= run.DocsPerSecond;
            var ceiling = processes * RequestsInFlight * InputsPerRequest / Latency.TotalSeconds;
            result.Metrics[$"docs_per_s_{processes}"] = Math.Round(run.DocsPerSecond, 1);
            result.Metrics[$"provider_calls_per_doc_{processes}"] = Math.Round(run.CallsPerDoc, 4);
            result.Metrics[$"provider_inputs_per_doc_{processes}"] = Math.Round(run.InputsPerDoc, 4);
            result.Table.Add([
                processes.ToString(CultureInfo.InvariantCulture), documents.ToString("N0", CultureInfo.InvariantCulture),
                run.Seconds.ToString("F2", CultureInfo.InvariantCulture), run.DocsPerSecond.ToString("N0", CultureInfo.InvariantCulture),
                ceiling.ToString("N0", CultureInfo.InvariantCulture), (run.DocsPerSecond / single.Value).ToString("F2", CultureInfo.InvariantCulture) + "x",
                run.CallsPerDoc.ToString("F3", CultureInfo.InvariantCulture), run.InputsPerDoc.ToString("F3", CultureInfo.InvariantCulture)]);
        }

        result.Metrics["speedup_4"] = Math.Round(result.Metrics["docs_per_s_4"] / result.Metrics["docs_per_s_1"], 2);
        result.Notes["setup"] = $"{documents} docs per run; each process: work --concurrency {Loops} --batch-size {BatchPerLoop} --max-batch-size {InputsPerRequest} --max-concurrency {RequestsInFlight}; fake provider latency 100 ms; halfvec({Dimensions})";
        return result;
    }

    private static async Task<RunFigures> RunOnceAsync(BenchContext context, string cli, string connectionString, FakeEmbeddingServer provider, int processes, int documents, CancellationToken cancellationToken)
    {
        var schema = "bench_scaleout_" + Guid.NewGuid().ToString("N")[..8];
        string[] common =
        [
            "--connection", connectionString, "--schema", schema, "--provider", "openai-compatible", "--base-url", provider.BaseUrl.ToString(),
            "--model", "m", "--dimensions", Dimensions.ToString(CultureInfo.InvariantCulture), "--api-key", "bench",
        ];

        // The documents table and the tables come from `ingest`; its tasks are removed so that the clock starts with
        // every worker ready.
        var file = Path.Combine(Path.GetTempPath(), schema + ".jsonl");
        await File.WriteAllLinesAsync(file, Enumerable.Range(0, documents + (processes * WarmupBatchesPerProcess * Loops * BatchPerLoop)).Select(i => JsonSerializer.Serialize(new { id = i.ToString(CultureInfo.InvariantCulture), text = $"document {i}: a few words about queues, leases and PostgreSQL" })), cancellationToken);
        using (var ingest = Start(cli, ["ingest", file, "--entity-type", "doc", .. common]))
        {
            await ingest.WaitForExitAsync(cancellationToken);
            if (ingest.ExitCode != 0)
            {
                throw new InvalidOperationException($"ingest failed: {await ingest.StandardError.ReadToEndAsync(cancellationToken)}");
            }
        }

        File.Delete(file);
        var builder = new NpgsqlDataSourceBuilder(connectionString);
        builder.UseVector();
        await using var dataSource = builder.Build();
        var queue = new PostgresEmbeddingTaskQueue(dataSource, schema);
        var admin = new PostgresEmbeddingQueueAdmin(dataSource, schema);
        await ExecuteAsync(dataSource, $"DELETE FROM \"{schema}\".embeddingkit_embedding_tasks", cancellationToken);

        var workers = new List<Process>();
        try
        {
            var ready = new List<Task>();
            for (var i = 0; i < processes; i++)
            {
                var worker = Start(cli, ["work", "--concurrency", Loops.ToString(CultureInfo.InvariantCulture), "--batch-size", BatchPerLoop.ToString(CultureInfo.InvariantCulture), "--max-batch-size", InputsPerRequest.ToString(CultureInfo.InvariantCulture), "--max-concurrency", RequestsInFlight.ToString(CultureInfo.InvariantCulture), "--lease-seconds", "30", .. common]);
                workers.Add(worker);
                ready.Add(WaitForLineAsync(worker, "working on", cancellationToken));
            }

            await Task.WhenAll(ready).WaitAsync(TimeSpan.FromMinutes(2), cancellationToken);

            // Warm-up, off the clock: every process JIT-compiles its claim/embed/store path and opens its connections on
            // its first batches; with 4 processes on 2 cores that would otherwise land inside a run of a few seconds.
            // The warm-up documents are their own (ids after the measured ones).
            var warmup = processes * WarmupBatchesPerProcess * Loops * BatchPerLoop;
            await queue.EnqueueAsync([.. Enumerable.Range(documents, warmup).Select(i => new EnqueueRequest("doc", i.ToString(CultureInfo.InvariantCulture), "m"))], cancellationToken);
            await WaitForEmptyQueueAsync(admin, processes, TimeSpan.FromMinutes(2), cancellationToken);

            provider.ResetCounters();
            var watch = Stopwatch.StartNew();
            await queue.EnqueueAsync([.. Enumerable.Range(0, documents).Select(i => new EnqueueRequest("doc", i.ToString(CultureInfo.InvariantCulture), "m"))], cancellationToken);
            while (await admin.CountOutstandingAsync(["m"], cancellationToken) > 0)
            {
                if (watch.Elapsed > TimeSpan.FromMinutes(5))
                {
                    throw new TimeoutException($"{processes} process(es) did not drain {documents} tasks in 5 minutes");
                }

                await Task.Delay(20, cancellationToken);
            }

            var seconds = watch.Elapsed.TotalSeconds;
            context.Log.WriteLine($"  {processes} process(es): {documents} docs in {seconds:F2} s, {provider.RequestCount} provider calls");
            return new RunFigures(seconds, documents / seconds, provider.RequestCount / (double)documents, provider.InputCount / (double)documents);
        }
        finally
        {
            foreach (var worker in workers)
            {
                if (!worker.HasExited)
                {
                    worker.Kill();
                }

                await worker.WaitForExitAsync(CancellationToken.None);
                worker.Dispose();
            }

            await ExecuteAsync(dataSource, $"DROP SCHEMA \"{schema}\" CASCADE", CancellationToken.None);
        }
    }

    private static async Task WaitForEmptyQueueAsync(PostgresEmbeddingQueueAdmin admin, int processes, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var watch = Stopwatch.StartNew();
        while (await admin.CountOutstandingAsync(["m"], cancellationToken) > 0)
        {
            if (watch.Elapsed > timeout)
            {
                throw new TimeoutException($"{processes} process(es) did not drain the warm-up in {timeout.TotalSeconds:N0} s");
            }

            await Task.Delay(20, cancellationToken);
        }
    }

    private static async Task WaitForLineAsync(Process process, string text, CancellationToken cancellationToken)
    {
        while (await process.StandardOutput.ReadLineAsync(cancellationToken) is { } line)
        {
            if (line.Contains(text, StringComparison.Ordinal))
            {
                // Keep draining stdout so the worker never blocks on a full pipe.
                _ = process.StandardOutput.BaseStream.CopyToAsync(Stream.Null, CancellationToken.None);
                return;
            }
        }

        throw new InvalidOperationException($"a worker exited before it was ready: {await process.StandardError.ReadToEndAsync(cancellationToken)}");
    }

    private static Process Start(string cli, IEnumerable<string> arguments)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, StandardOutputEncoding = Encoding.UTF8 };
        start.ArgumentList.Add(cli);
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment["NO_COLOR"] = "1";
        start.Environment["TERM"] = "dumb";
        var process = Process.Start(start) ?? throw new InvalidOperationException("could not start the CLI");
        _ = process.StandardError.BaseStream.CopyToAsync(Stream.Null, CancellationToken.None);
        return process;
    }

    private static string LocateCli()
    {
        foreach (var configuration in new[] { "Release", "Debug" })
        {
            var path = Path.Combine(RepositoryRoot.Find(), "src", "EmbeddingKit.Cli", "bin", configuration, "net10.0", "EmbeddingKit.Cli.dll");
            if (File.Exists(path))
            {
                return path;
            }
        }

        throw new FileNotFoundException("EmbeddingKit.Cli.dll not found; the bench project builds it (dotnet build -c Release bench/EmbeddingKit.Bench).");
    }

    private static async Task ExecuteAsync(NpgsqlDataSource dataSource, string sql, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(sql);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private sealed record RunFigures(double Seconds, double DocsPerSecond, double CallsPerDoc, double InputsPerDoc);
}
