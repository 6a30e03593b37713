using EmbeddingKit.TestInfrastructure.Vectors;
using System.Diagnostics;
using System.Globalization;
using EmbeddingKit.Postgres.Search;
using EmbeddingKit.Postgres.Storage;
using EmbeddingKit.Storage;
using EmbeddingKit.Tasks;
using Npgsql;
using NpgsqlTypes;
using Pgvector;

namespace EmbeddingKit.Bench.Scenarios;

/// <summary>
/// Search quality and cost of two-stage (binary-quantized candidates, fp16 rescoring) vs plain HNSW halfvec vs exact
/// search, and vector write throughput (binary COPY vs parameterised INSERT vs the storage's upsert paths).
/// </summary>
/// <remarks>
/// Data: <c>--rows</c> (default 100,000) × 768 vectors from 100 seeded Gaussian clusters: unit centres drawn from
/// N(0, I), each point a centre plus N(0, (spread² / 768) I) noise (<c>--spread</c>, default 2, so the noise has about
/// twice the centre's norm), L2-normalized and stored as halfvec. Queries: <c>--queries</c> (default 200) further points
/// of the same generator, not stored (held out). Ground truth: exact search. The oversample factor is the tuner's
/// recommendation on a sample of the table (or its largest factor when none reaches 0.95).
/// </remarks>
internal sealed partial class SearchScenario : IBenchScenario
{
    private const string Model = "bench-768";
    private const int Dimensions = 768;
    private const int K = 10;

    public string Name => "search";

    public string Description => "two-stage vs HNSW vs exact search on clustered 768-d halfvec, hybrid (fused with the lexical index) vs each path alone, and halfvec write throughput";

    public async Task<BenchResult> RunAsync(BenchContext context, CancellationToken cancellationToken)
    {
        var rows = context.Integer("--rows", 100_000);
        var queryCount = context.Integer("--queries", 200);
        var writeRows = context.Integer("--write-rows", 20_000);
        var spread = (float)context.Number("--spread", 2.0);
        var result = new BenchResult();
        result.Notes["loadavg_start"] = LoadAverage();

        var connectionString = await context.GetConnectionStringAsync(cancellationToken);
        var builder = new NpgsqlDataSourceBuilder(connectionString)
        {
            ConnectionStringBuilder = { CommandTimeout = 0, Options = "-c maintenance_work_mem=2GB" },
        };
        builder.UseVector();
        await using var dataSource = builder.Build();
        await ExecuteAsync(dataSource, "CREATE EXTENSION IF NOT EXISTS vector", cancellationToken);
        // --hybrid-schema S: only the hybrid part, on the tables a --keep-schema run left in S (same seed, so the same
        // queries); --oversample and --ef-search as that run's tuner picked them (defaults 64 and 400).
        if (context.Arguments.SkipWhile(a => a != "--hybrid-schema").Skip(1).FirstOrDefault() is { } kept)
        {
            var vectors = new ClusteredVectors(Dimensions, 100, seed: 42, spread);
            for (var i = 0; i < rows; i++)
            {
                vectors.Next();
            }

            var queries = Enumerable.Range(0, queryCount).Select(_ => vectors.Next()).ToList();
            await HybridAsync(dataSource, new EmbeddingTable(kept, Dimensions), queries, rows, context.Integer("--oversample", 64), context.Integer("--ef-search", 400), result, context.Log, cancellationToken);
            return result;
        }

        // A schema of its own per run (dropped at the end), so two runs against one cluster do not drop each other's tables.
        var schema = "bench_search_" + Guid.NewGuid().ToString("N")[..8];
        try
        {
            return await RunInAsync(context, dataSource, schema, rows, queryCount, writeRows, spread, result, cancellationToken);
        }
        finally
        {
            // --keep-schema 1 leaves the tables for a look with psql (EXPLAIN of the statements measured here).
            if (context.Integer("--keep-schema", 0) == 0)
            {
                await ExecuteAsync(dataSource, $"DROP SCHEMA IF EXISTS {schema} CASCADE", CancellationToken.None);
            }
            else
            {
                context.Log.WriteLine($"kept schema {schema} (--keep-schema)");
            }
        }
    }

    private static async Task<BenchResult> RunInAsync(BenchContext context, NpgsqlDataSource dataSource, string schema, int rows, int queryCount, int writeRows, float spread, BenchResult result, CancellationToken cancellationToken)
    {
        var log = context.Log;
        await using (var connection = await dataSource.OpenConnectionAsync(cancellationToken))
        {
            await connection.ReloadTypesAsync(cancellationToken);
        }

        var table = new EmbeddingTable(schema, Dimensions);
        var manager = new EmbeddingIndexManager(dataSource);
        await manager.EnsureTableAsync(table, cancellationToken);
        var storage = new PgvectorEmbeddingStorage(dataSource, _ => table);

        // Load through the storage (binary COPY path), indexes afterwards.
        log.WriteLine($"loading {rows:N0} × {Dimensions} clustered vectors (100 clusters, spread {spread})");
        var vectors = new ClusteredVectors(Dimensions, 100, seed: 42, spread);
        var load = new Stopwatch();
        for (var start = 0; start < rows; start += 5000)
        {
            var batch = Enumerable.Range(start, Math.Min(5000, rows - start))
                .Select(i => new EmbeddingRecord(new EmbeddingTaskKey("doc", Id(i), Model), vectors.Next(), [1], 1))
                .ToList();
            load.Start();
            await storage.UpsertAsync(batch, cancellationToken);
            load.Stop();
        }

        var queries = Enumerable.Range(0, queryCount).Select(_ => vectors.Next()).ToList();
        result.Metrics["load_rows_per_s"] = rows / load.Elapsed.TotalSeconds;

        log.WriteLine("building the HNSW halfvec index");
        var hnswBuild = await TimeAsync(() => ExecuteAsync(dataSource, table.CreateHnswIndexSql(Model), cancellationToken));
        log.WriteLine($"  {hnswBuild:0.0} s; building the binary-quantized index");
        var bqBuild = await TimeAsync(() => ExecuteAsync(dataSource, table.CreateBinaryQuantizedIndexSql(Model), cancellationToken));
        log.WriteLine($"  {bqBuild:0.0} s");
        await ExecuteAsync(dataSource, $"VACUUM ANALYZE {table.QualifiedName}", cancellationToken);
        var status = await manager.GetIndexStatusAsync(table, Model, cancellationToken);
        result.Metrics["hnsw_build_s"] = hnswBuild;
        result.Metrics["bq_build_s"] = bqBuild;
        result.Metrics["hnsw_index_bytes"] = status.Single(s => s.Kind == EmbeddingIndexKind.Hnsw).SizeBytes;
        result.Metrics["bq_index_bytes"] = status.Single(s => s.Kind == EmbeddingIndexKind.BinaryQuantized).SizeBytes;
        result.Metrics["table_bytes"] = await ScalarAsync<long>(dataSource, $"SELECT pg_table_size('{table.QualifiedName}')", cancellationToken);

        // The tuner picks the oversample factor on 100 stored vectors.
        log.WriteLine("tuning on 100 stored vectors");
        var tuning = await new SearchTuner(dataSource).TuneAsync(table, Model, new SearchTunerOptions { SampleSize = 100 }, cancellationToken);
        result.TableHeader = ["source", "path", "oversample", "ef_search", "recall@10", "p50 ms", "p99 ms"];
        foreach (var row in tuning.Rows)
        {
            result.Table.Add(["tuner", row.Path.ToString(), Format(row.Oversample), Format(row.EfSearch), Format(row.RecallAtK, "0.000") + " (>= " + Format(row.RecallLowerBound, "0.000") + ")", Format(row.P50Milliseconds, "0.00"), Format(row.P99Milliseconds, "0.00")]);
        }

        // Compare at (about) equal recall: the smallest oversample and the smallest ef_search the tuner finds reaching
        // 0.95 with its confidence (the lower confidence bound of the sample's mean recall, as its recommendation uses),
        // or the largest tried when none does. Plain HNSW at pgvector's default ef_search (40) is reported beside.
        var oversample = tuning.Rows.Where(r => r.Path == SearchPath.TwoStage && r.RecallLowerBound >= 0.95).Select(r => r.Oversample).DefaultIfEmpty(64).Min();
        var efSearch = tuning.Rows.Where(r => r.Path == SearchPath.Hnsw && r.RecallLowerBound >= 0.95).Select(r => r.EfSearch).DefaultIfEmpty(400).Min();
        result.Metrics["tuner_pick_sample_recall_at_10"] = tuning.Rows.Where(r => r.Path == SearchPath.TwoStage && r.Oversample == oversample).Select(r => r.RecallAtK).FirstOrDefault();

        // The tuner's earlier queries (the stored vectors themselves, own row left out) on the same sample, for the
        // estimate they give at the same setting.
        var stored = await new SearchTuner(dataSource).TuneAsync(table, Model, new SearchTunerOptions { SampleSize = 100, UseStoredVectorsAsQueries = true, Oversamples = [oversample], EfSearches = [efSearch] }, cancellationToken);
        result.Metrics["tuner_stored_queries_recall_at_10"] = stored.Rows.Single(r => r.Path == SearchPath.TwoStage).RecallAtK;
        result.Metrics["tuner_stored_queries_hnsw_recall_at_10"] = stored.Rows.Single(r => r.Path == SearchPath.Hnsw).RecallAtK;
        result.Metrics["tuner_pick_hnsw_sample_recall_at_10"] = tuning.Rows.Where(r => r.Path == SearchPath.Hnsw && r.EfSearch == efSearch).Select(r => r.RecallAtK).FirstOrDefault();
        result.Metrics["tuner_pick_recall_lower_bound"] = tuning.Rows.Where(r => r.Path == SearchPath.TwoStage && r.Oversample == oversample).Select(r => r.RecallLowerBound).FirstOrDefault();
        result.Notes["tuner_recommendation"] = tuning.Recommendation.Reason;
        result.Notes["data"] = $"{rows} x {Dimensions}, 100 seeded Gaussian clusters (unit centres, noise norm ~{spread.ToString(CultureInfo.InvariantCulture)}), L2-normalized halfvec; {queryCount} held-out queries from the same clusters";

        // Held-out queries: exact ground truth, then each path.
        var search = new PgvectorSearch(dataSource);
        log.WriteLine($"searching {queryCount} held-out queries: exact, two-stage (oversample {oversample}), HNSW (ef_search {efSearch} and 40)");
        var exact = await RunQueriesAsync(search, table, queries, new VectorSearchOptions { K = K, Path = SearchPath.Exact }, null, cancellationToken);
        var twoStage = await RunQueriesAsync(search, table, queries, new VectorSearchOptions { K = K, Oversample = oversample }, exact.Results, cancellationToken);
        // The next oversample of the grid too: the tuner's estimate comes from 100 samples, so the pick may land just
        // under the target on held-out queries; the next step shows what the margin costs.
        var nextOversample = tuning.Rows.Where(r => r.Path == SearchPath.TwoStage && r.Oversample > oversample).Select(r => r.Oversample).DefaultIfEmpty(Math.Min(oversample * 2, VectorSearchDefaults.MaxOversample)).Min();
        var twoStageNext = await RunQueriesAsync(search, table, queries, new VectorSearchOptions { K = K, Oversample = nextOversample }, exact.Results, cancellationToken);
        var hnsw = await RunQueriesAsync(search, table, queries, new VectorSearchOptions { K = K, Path = SearchPath.Hnsw, EfSearch = efSearch }, exact.Results, cancellationToken);
        var hnsw40 = await RunQueriesAsync(search, table, queries, new VectorSearchOptions { K = K, Path = SearchPath.Hnsw }, exact.Results, cancellationToken);
        result.Table.Add(["held-out", "Exact", "-", "-", "1.000", Format(exact.P50, "0.00"), Format(exact.P99, "0.00")]);
        result.Table.Add(["held-out", "TwoStage", Format(oversample), "40", Format(twoStage.Recall, "0.000"), Format(twoStage.P50, "0.00"), Format(twoStage.P99, "0.00")]);
        result.Table.Add(["held-out", "TwoStage", Format(nextOversample), "40", Format(twoStageNext.Recall, "0.000"), Format(twoStageNext.P50, "0.00"), Format(twoStageNext.P99, "0.00")]);
        result.Table.Add(["held-out", "Hnsw", "1", Format(efSearch), Format(hnsw.Recall, "0.000"), Format(hnsw.P50, "0.00"), Format(hnsw.P99, "0.00")]);
        result.Table.Add(["held-out", "Hnsw", "1", "40", Format(hnsw40.Recall, "0.000"), Format(hnsw40.P50, "0.00"), Format(hnsw40.P99, "0.00")]);

        result.Metrics["oversample"] = oversample;
        result.Metrics["two_stage_recall_at_10"] = twoStage.Recall;
        result.Metrics["hnsw_recall_at_10"] = hnsw.Recall;
        result.Metrics["hnsw_ef_search"] = efSearch;
        result.Metrics["hnsw_ef40_recall_at_10"] = hnsw40.Recall;
        result.Metrics["two_stage_p50_ms"] = twoStage.P50;
        result.Metrics["two_stage_p99_ms"] = twoStage.P99;
        result.Metrics["hnsw_p50_ms"] = hnsw.P50;
        result.Metrics["hnsw_p99_ms"] = hnsw.P99;
        result.Metrics["hnsw_ef40_p50_ms"] = hnsw40.P50;
        result.Metrics["hnsw_ef40_p99_ms"] = hnsw40.P99;
        result.Metrics["exact_p50_ms"] = exact.P50;
        result.Metrics["exact_p99_ms"] = exact.P99;
        result.Metrics["bq_to_hnsw_index_size_ratio"] = result.Metrics["bq_index_bytes"] / result.Metrics["hnsw_index_bytes"];
        result.Metrics["two_stage_to_hnsw_p50_ratio"] = twoStage.P50 / hnsw.P50;
        result.Metrics["two_stage_next_oversample"] = nextOversample;
        result.Metrics["two_stage_next_recall_at_10"] = twoStageNext.Recall;
        result.Metrics["two_stage_next_p50_ms"] = twoStageNext.P50;
        result.Metrics["two_stage_next_to_hnsw_p50_ratio"] = twoStageNext.P50 / hnsw.P50;

        if (context.Integer("--hybrid", 1) != 0)
        {
            await HybridAsync(dataSource, table, queries, rows, oversample, efSearch, result, log, cancellationToken);
        }

        await WritesAsync(dataSource, schema, writeRows, result, log, cancellationToken);
        result.Notes["loadavg_end"] = LoadAverage();
        return result;
    }

    private static async Task WritesAsync(NpgsqlDataSource dataSource, string schema, int count, BenchResult result, TextWriter log, CancellationToken cancellationToken)
    {
        const int dimensions = 1536;
        var table = new EmbeddingTable(schema, dimensions);
        await new EmbeddingIndexManager(dataSource).EnsureTableAsync(table, cancellationToken);
        var generator = new ClusteredVectors(dimensions, 10, seed: 7);
        var vectors = Enumerable.Range(0, Math.Min(count, 2000)).Select(_ => generator.Next()).ToArray();
        var hash = new byte[32];
        Half[] VectorOf(int i) => vectors[i % vectors.Length];
        var truncate = $"TRUNCATE {table.QualifiedName}";

        // Raw binary COPY straight into the table (no index): the ceiling. Each method runs once untimed first, so that
        // the timed run measures jitted code, not tier-0 code.
        log.WriteLine($"writes: {count:N0} × {dimensions}-d halfvec rows, no index");
        async Task CopyAsync(int rows)
        {
            await ExecuteAsync(dataSource, truncate, cancellationToken);
            await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
            await using var writer = await connection.BeginBinaryImportAsync(
                $"COPY {table.QualifiedName} (entity_type, entity_id, model, embedding, content_hash, generation) FROM STDIN (FORMAT BINARY)", cancellationToken);
            for (var i = 0; i < rows; i++)
            {
                await writer.StartRowAsync(cancellationToken);
                await writer.WriteAsync("doc", NpgsqlDbType.Text, cancellationToken);
                await writer.WriteAsync(Id(i), NpgsqlDbType.Text, cancellationToken);
                await writer.WriteAsync("w", NpgsqlDbType.Text, cancellationToken);
                await writer.WriteAsync(new HalfVector(VectorOf(i)), "halfvec", cancellationToken);
                await writer.WriteAsync(hash, NpgsqlDbType.Bytea, cancellationToken);
                await writer.WriteAsync(1L, NpgsqlDbType.Bigint, cancellationToken);
            }

            await writer.CompleteAsync(cancellationToken);
        }

        await CopyAsync(1000);
        await ExecuteAsync(dataSource, truncate, cancellationToken);
        var copy = await TimeAsync(() => CopyAsync(count));
        result.Metrics["vector_writes_per_s"] = count / copy;

        // Parameterised single-row INSERTs with Pgvector.HalfVector, prepared, committed every 1,000 rows.
        async Task InsertAsync(int rows)
        {
            await ExecuteAsync(dataSource, truncate, cancellationToken);
            await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
            for (var start = 0; start < rows; start += 1000)
            {
                await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
                await using var command = new NpgsqlCommand(
                    $"INSERT INTO {table.QualifiedName} (entity_type, entity_id, model, embedding, content_hash, generation) VALUES ('doc', $1, 'w', $2, $3, 1)",
                    connection, transaction);
                var id = new NpgsqlParameter<string> { NpgsqlDbType = NpgsqlDbType.Text };
                var embedding = new NpgsqlParameter<HalfVector> { DataTypeName = "halfvec" };
                var content = new NpgsqlParameter<byte[]> { TypedValue = hash, NpgsqlDbType = NpgsqlDbType.Bytea };
                command.Parameters.Add(id);
                command.Parameters.Add(embedding);
                command.Parameters.Add(content);
                await command.PrepareAsync(cancellationToken);
                for (var i = start; i < Math.Min(start + 1000, rows); i++)
                {
                    id.TypedValue = Id(i);
                    embedding.TypedValue = new HalfVector(VectorOf(i));
                    await command.ExecuteNonQueryAsync(cancellationToken);
                }

                await transaction.CommitAsync(cancellationToken);
            }
        }

        await InsertAsync(1000);
        var insert = await TimeAsync(() => InsertAsync(count));
        result.Metrics["insert_writes_per_s"] = count / insert;
        result.Metrics["copy_to_insert_ratio"] = result.Metrics["vector_writes_per_s"] / result.Metrics["insert_writes_per_s"];

        // The storage's two upsert paths (guarded INSERT … ON CONFLICT) at several batch sizes, into an empty table;
        // the first round (batch 64) warms up and is overwritten by the second.
        foreach (var batchSize in new[] { 64, 16, 64, 128, 256, 1024, 4096 })
        {
            foreach (var (path, threshold) in new[] { ("unnest", int.MaxValue), ("copy", 1) })
            {
                await ExecuteAsync(dataSource, truncate, cancellationToken);
                var storage = new PgvectorEmbeddingStorage(dataSource, _ => table) { CopyThreshold = threshold };
                var total = Math.Max(batchSize * 4, Math.Min(count, 16384) / batchSize * batchSize);
                var seconds = await TimeAsync(async () =>
                {
                    for (var start = 0; start < total; start += batchSize)
                    {
                        var batch = Enumerable.Range(start, batchSize)
                            .Select(i => new EmbeddingRecord(new EmbeddingTaskKey("doc", Id(i), "w"), VectorOf(i), hash, 1))
                            .ToList();
                        await storage.UpsertAsync(batch, cancellationToken);
                    }
                });
                result.Metrics[$"upsert_{path}_batch{batchSize}_rows_per_s"] = total / seconds;
                log.WriteLine($"  upsert {path,-6} batch {batchSize,4}: {total / seconds:N0} rows/s");
            }
        }

        await ExecuteAsync(dataSource, $"DROP TABLE {table.QualifiedName}", cancellationToken);
    }

    private static async Task<(List<HashSet<string>> Results, double Recall, double P50, double P99)> RunQueriesAsync(
        PgvectorSearch search, EmbeddingTable table, List<Half[]> queries, VectorSearchOptions options, List<HashSet<string>>? truth, CancellationToken cancellationToken)
    {
        // Warm-up: the first queries pay for cold buffers and plan caches.
        foreach (var query in queries.Take(10))
        {
            await search.SearchAsync(table, Model, query, options, cancellationToken: cancellationToken);
        }

        var results = new List<HashSet<string>>(queries.Count);
        var latencies = new double[queries.Count];
        var recall = 0.0;
        for (var i = 0; i < queries.Count; i++)
        {
            var watch = Stopwatch.StartNew();
            var found = await search.SearchAsync(table, Model, queries[i], options, cancellationToken: cancellationToken);
            latencies[i] = watch.Elapsed.TotalMilliseconds;
            var ids = found.Hits.Select(h => h.EntityId).ToHashSet(StringComparer.Ordinal);
            results.Add(ids);
            if (truth is not null)
            {
                recall += (double)ids.Count(truth[i].Contains) / truth[i].Count;
            }
        }

        Array.Sort(latencies);
        return (results, truth is null ? 1 : recall / queries.Count, Percentile(latencies, 0.50), Percentile(latencies, 0.99));
    }

    private static double Percentile(double[] sorted, double p) => sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Length) - 1, 0, sorted.Length - 1)];

    private static async Task<double> TimeAsync(Func<Task> action)
    {
        var watch = Stopwatch.StartNew();
        await action();
        return watch.Elapsed.TotalSeconds;
    }

    private static async Task ExecuteAsync(NpgsqlDataSource dataSource, string sql, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(sql);
        command.CommandTimeout = 0;
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private static async Task<T> ScalarAsync<T>(NpgsqlDataSource dataSource, string sql, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(sql);
        return (T)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    // Other work on the machine skews timings; the run records the load average beside them.
    private static string LoadAverage() => File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Trim() : "n/a";

    private static string Id(int i) => i.ToString(CultureInfo.InvariantCulture);

    private static string Format(double value, string format = "0") => value.ToString(format, CultureInfo.InvariantCulture);
}
