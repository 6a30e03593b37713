using System.Diagnostics;
using System.Globalization;
using EmbeddingKit.Postgres.Migrations;
using EmbeddingKit.Postgres.Tasks;
using EmbeddingKit.Tasks;
using Npgsql;

namespace EmbeddingKit.Bench.Scenarios;

/// <summary>
/// The task queue alone (no embedding work): enqueue rate, fetch+complete rate by batch size and worker count, the SQL
/// ceiling of the same statements replayed by pgbench, commits per task, claim latency, and claim latency with a million
/// outstanding tasks of other models.
/// </summary>
internal sealed class QueueScenario : IBenchScenario
{
    private const string Model = "bench-model";
    private static readonly TimeSpan Lease = TimeSpan.FromMinutes(5);

    public string Name => "queue";

    public string Description => "task queue throughput: enqueue, fetch+complete, pgbench SQL ceiling, commits/task, claim latency";

    public async Task<BenchResult> RunAsync(BenchContext context, CancellationToken cancellationToken)
    {
        var connectionString = await context.GetConnectionStringAsync(cancellationToken);
        var builder = new NpgsqlDataSourceBuilder(connectionString);
        builder.ConnectionStringBuilder.MaxPoolSize = 20;
        await using var dataSource = builder.Build();
        var schema = "bench_queue_" + Guid.NewGuid().ToString("N")[..8];
        await EmbeddingKitMigrations.ApplyAsync(dataSource, schema, cancellationToken);
        var queue = new PostgresEmbeddingTaskQueue(dataSource, schema);
        var result = new BenchResult { TableHeader = ["phase", "batch", "workers", "tasks", "tasks/s", "claim p50 ms", "claim p99 ms", "commits/task"] };
        var log = context.Log;

        // Warm up connections and plans, and the JIT until it has settled (rounds of 5,000 tasks enqueued and drained;
        // a single round left tier-up running into the measured phases).
        var warmupRounds = await JitWarmup.UntilSettledAsync(
            async round =>
            {
                await EnqueueAsync(queue, round * 5_000, 5_000, 1_000, cancellationToken);
                await DrainAsync(queue, dataSource, 100, 2, 5_000, cancellationToken);
            },
            context.Integer("--warmup-rounds", 30));

        // Enqueue in batches of 1,000.
        const int enqueueCount = 200_000;
        var watch = Stopwatch.StartNew();
        await EnqueueAsync(queue, 1_000_000, enqueueCount, 1_000, cancellationToken);
        var enqueuePerSecond = enqueueCount / watch.Elapsed.TotalSeconds;
        result.Metrics["enqueue_per_s"] = Math.Round(enqueuePerSecond);
        result.Metrics["warmup_tasks"] = warmupRounds * 5_000;
        result.Table.Add(["enqueue", "1000", "1", F(enqueueCount), F(enqueuePerSecond), "", "", ""]);
        log.WriteLine($"enqueue: {enqueuePerSecond:N0}/s");
        await DrainAsync(queue, dataSource, 100, 4, enqueueCount, cancellationToken);

        // Fetch + complete matrix.
        var next = 2_000_000;
        foreach (var batch in new[] { 1, 10, 100 })
        {
            foreach (var workers in new[] { 1, 2, 4 })
            {
                var tasks = batch switch { 1 => 3_000, 10 => 15_000, _ => 60_000 };
                await EnqueueAsync(queue, next, tasks, 1_000, cancellationToken);
                next += tasks;
                var run = await DrainAsync(queue, dataSource, batch, workers, tasks, cancellationToken);
                result.Table.Add(["fetch+complete", F(batch), F(workers), F(run.Tasks), F(run.PerSecond), run.ClaimP50.ToString("F2", CultureInfo.InvariantCulture), run.ClaimP99.ToString("F2", CultureInfo.InvariantCulture), run.CommitsPerTask.ToString("F3", CultureInfo.InvariantCulture)]);
                log.WriteLine($"fetch+complete batch {batch} workers {workers}: {run.PerSecond:N0}/s, claim p99 {run.ClaimP99:F2} ms, {run.CommitsPerTask:F3} commits/task");
                if (batch == 100 && workers == 2)
                {
                    result.Metrics["fetch_complete_per_s"] = Math.Round(run.PerSecond);
                    result.Metrics["commits_per_task"] = Math.Round(run.CommitsPerTask, 4);
                    result.Metrics["claim_p99_ms"] = Math.Round(run.ClaimP99, 3);
                    result.Metrics["claim_p50_ms"] = Math.Round(run.ClaimP50, 3);
                }
            }
        }

        // The SQL ceiling: the same claim and complete statements, replayed by pgbench with 2 clients at batch 100.
        var ceiling = await PgbenchCeilingAsync(context, queue, dataSource, connectionString, next, cancellationToken);
        next += 400_000;
        if (ceiling is { } perSecond)
        {
            result.Metrics["sql_ceiling_per_s"] = Math.Round(perSecond);
            result.Metrics["ceiling_ratio"] = Math.Round(result.Metrics["fetch_complete_per_s"] / perSecond, 3);
            result.Table.Add(["pgbench ceiling", "100", "2", "", F(perSecond), "", "", ""]);
        }

        // Claim latency with 1,000,000 outstanding tasks of other models in the table.
        log.WriteLine("loading 1,000,000 tasks of other models");
        await using (var load = dataSource.CreateCommand(
            $"""
            INSERT INTO "{schema}".embeddingkit_embedding_tasks (entity_type, entity_id, model)
            SELECT 'other', g::text, 'other-model-' || (g % 4) FROM generate_series(1, 1000000) g;
            ANALYZE "{schema}".embeddingkit_embedding_tasks;
            """))
        {
            load.CommandTimeout = 600;
            await load.ExecuteNonQueryAsync(cancellationToken);
        }

        await EnqueueAsync(queue, next, 20_000, 1_000, cancellationToken);
        var crowded = await DrainAsync(queue, dataSource, 100, 1, 20_000, cancellationToken);
        result.Metrics["fetch_p50_ms_1m"] = Math.Round(crowded.ClaimP50, 3);
        result.Metrics["fetch_p99_ms_1m"] = Math.Round(crowded.ClaimP99, 3);
        result.Table.Add(["fetch+complete, 1M other", "100", "1", F(crowded.Tasks), F(crowded.PerSecond), crowded.ClaimP50.ToString("F2", CultureInfo.InvariantCulture), crowded.ClaimP99.ToString("F2", CultureInfo.InvariantCulture), crowded.CommitsPerTask.ToString("F3", CultureInfo.InvariantCulture)]);

        await using (var drop = dataSource.CreateCommand($"DROP SCHEMA \"{schema}\" CASCADE"))
        {
            await drop.ExecuteNonQueryAsync(cancellationToken);
        }

        result.Notes["postgres"] = "15 + pgvector 0.8.0, throwaway cluster (fsync off, synchronous_commit off)";
        return result;
    }

    private static string F(double value) => value.ToString("N0", CultureInfo.InvariantCulture);

    private static async Task EnqueueAsync(PostgresEmbeddingTaskQueue queue, int start, int count, int batch, CancellationToken cancellationToken)
    {
        for (var offset = 0; offset < count; offset += batch)
        {
            var requests = new EnqueueRequest[Math.Min(batch, count - offset)];
            for (var i = 0; i < requests.Length; i++)
            {
                requests[i] = new EnqueueRequest("doc", (start + offset + i).ToString(CultureInfo.InvariantCulture), Model);
            }

            await queue.EnqueueAsync(requests, cancellationToken);
        }
    }

    private sealed record Run(int Tasks, double PerSecond, double ClaimP50, double ClaimP99, double CommitsPerTask);

    private static async Task<Run> DrainAsync(PostgresEmbeddingTaskQueue queue, NpgsqlDataSource dataSource, int batch, int workers, int expected, CancellationToken cancellationToken)
    {
        var commitsBefore = await CommitsAsync(dataSource, cancellationToken);
        var latencies = new List<double>[workers];
        var done = 0;
        var watch = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, workers).Select(w => Task.Run(async () =>
        {
            var mine = latencies[w] = [];
            var request = new FetchRequest([Model], batch, $"bench-{w}", Lease);
            while (true)
            {
                var start = Stopwatch.GetTimestamp();
                var tasks = await queue.FetchReadyAsync(request, cancellationToken);
                mine.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
                if (tasks.Count == 0)
                {
                    return;
                }

                var completed = await queue.CompleteAsync(tasks, cancellationToken);
                Interlocked.Add(ref done, completed.Completed.Count);
            }
        }, cancellationToken)));
        var elapsed = watch.Elapsed.TotalSeconds;
        var commitsAfter = await CommitsAsync(dataSource, cancellationToken);
        var all = latencies.SelectMany(l => l).Order().ToArray();
        if (done != expected)
        {
            throw new InvalidOperationException($"drained {done} tasks, expected {expected}");
        }

        // The commits measured include the stats queries themselves (2) and the final empty fetch per worker.
        return new Run(done, done / elapsed, Percentile(all, 0.5), Percentile(all, 0.99), (commitsAfter - commitsBefore) / (double)done);
    }

    private static double Percentile(double[] sorted, double p) => sorted.Length == 0 ? 0 : sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)];

    private static async Task<long> CommitsAsync(NpgsqlDataSource dataSource, CancellationToken cancellationToken)
    {
        // Statistics are flushed by backends at most once a second; wait for them, then read a fresh snapshot.
        await Task.Delay(1_100, cancellationToken);
        await using var command = dataSource.CreateCommand("SELECT pg_stat_clear_snapshot(); SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()");
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.NextResultAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return reader.GetInt64(0);
    }

    private static async Task<double?> PgbenchCeilingAsync(BenchContext context, PostgresEmbeddingTaskQueue queue, NpgsqlDataSource dataSource, string connectionString, int start, CancellationToken cancellationToken)
    {
        const string pgbench = "/usr/lib/postgresql/15/bin/pgbench";
        if (!File.Exists(pgbench))
        {
            context.Log.WriteLine("pgbench not found; no SQL ceiling measured");
            return null;
        }

        const int clients = 2;
        const int batch = 100;
        const int tasks = 400_000;
        await EnqueueAsync(queue, start, tasks, 1_000, cancellationToken);

        // The repository's own statements: the claim with its RETURNING folded into arrays (\gset), then the complete.
        var sql = queue.Statements;
        var fetch = sql.FetchOneModel;
        var updateAt = fetch.IndexOf("UPDATE " + sql.TasksTable, StringComparison.Ordinal);
        var claim = fetch[..updateAt].TrimEnd() + ",\nclaimed AS (\n" + fetch[updateAt..]
            .Replace("$1", "'" + Model + "'", StringComparison.Ordinal)
            .Replace("$2", batch.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal)
            .Replace("$3", "gen_random_uuid()", StringComparison.Ordinal)
            .Replace("$4", "'pgbench'", StringComparison.Ordinal)
            .Replace("$5", "300", StringComparison.Ordinal)
            .Replace("$6", queue.Options.MaxAttempts.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal)
            + "\n)\nSELECT coalesce(array_agg(id), '{}') AS ids, coalesce(array_agg(lease_token), '{}') AS tokens, coalesce(array_agg(generation), '{}') AS gens FROM claimed";
        claim = claim.Replace("$1", "'" + Model + "'", StringComparison.Ordinal).Replace("$2", batch.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal)
            .Replace("$6", queue.Options.MaxAttempts.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal);
        var complete = sql.Complete.Replace("$1", ":ids", StringComparison.Ordinal).Replace("$2", ":tokens", StringComparison.Ordinal).Replace("$3", ":gens", StringComparison.Ordinal);
        var script = Path.GetTempFileName();
        await File.WriteAllTextAsync(script, Flatten(claim) + " \\gset\n" + Flatten(complete) + ";\n", cancellationToken);

        var csb = new NpgsqlConnectionStringBuilder(connectionString);
        var start_ = new ProcessStartInfo(pgbench) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in new[]
        {
            "-h", csb.Host!, "-p", csb.Port.ToString(CultureInfo.InvariantCulture), "-U", csb.Username ?? "postgres",
            "-n", "-M", "prepared", "-c", clients.ToString(CultureInfo.InvariantCulture), "-j", clients.ToString(CultureInfo.InvariantCulture),
            "-t", (tasks / batch / clients).ToString(CultureInfo.InvariantCulture), "-f", script, csb.Database ?? "postgres",
        })
        {
            start_.ArgumentList.Add(argument);
        }

        var watch = Stopwatch.StartNew();
        using var process = Process.Start(start_)!;
        var output = await process.StandardOutput.ReadToEndAsync(cancellationToken);
        var errors = await process.StandardError.ReadToEndAsync(cancellationToken);
        await process.WaitForExitAsync(cancellationToken);
        var elapsed = watch.Elapsed.TotalSeconds;
        File.Delete(script);
        var left = await new PostgresEmbeddingQueueAdmin(dataSource, queue.Schema).CountOutstandingAsync([Model], cancellationToken);
        if (process.ExitCode != 0 || left != 0)
        {
            context.Log.WriteLine($"pgbench failed (exit {process.ExitCode}, {left} tasks left): {errors}");
            return null;
        }

        var tpsLine = output.Split('\n').FirstOrDefault(l => l.StartsWith("tps = ", StringComparison.Ordinal));
        var tps = tpsLine is null ? tasks / batch / elapsed : double.Parse(tpsLine[6..].Split(' ')[0], CultureInfo.InvariantCulture);
        context.Log.WriteLine($"pgbench: {tps:N0} claim+complete transactions/s of {batch} tasks ({tpsLine?.Trim()})");
        return tps * batch;
    }

    private static string Flatten(string sql) => string.Join(' ', sql.Split('\n', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries));
}
