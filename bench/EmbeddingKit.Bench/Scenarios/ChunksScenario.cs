using System.Diagnostics;
using System.Globalization;
using System.Text;
using EmbeddingKit.Chunking;
using EmbeddingKit.Embedders;
using EmbeddingKit.OpenAI;
using EmbeddingKit.Postgres.Search;
using EmbeddingKit.Postgres.Storage;
using EmbeddingKit.Runtime;
using EmbeddingKit.Storage;
using EmbeddingKit.Tasks;
using EmbeddingKit.TestInfrastructure.Vectors;
using Microsoft.Extensions.AI;
using Npgsql;
using Pgvector;

namespace EmbeddingKit.Bench.Scenarios;

/// <summary>
/// Issue 16: what chunks as rows cost. Edit cost: a 20-chunk document with one paragraph changed, through the runtime
/// and the pgvector storage (provider inputs counted by a wrapper around the hashing embedder; rows rewritten counted by
/// <c>updated_at</c>), with the host's own chunks and with the cl100k chunker, and an unchanged re-ingest. Search:
/// k = 10 entities over <c>--entities</c> (default 10,000) entities stored as one vector each, against the same entities
/// in 1 to 9 chunks (5 on average), HNSW and two-stage, timed interleaved; and the chunk-0 table with the statement of
/// before grouping (hand-written) against the grouped one, to show an unchunked table is not slower.
/// </summary>
/// <remarks>Vectors: <c>--dimensions</c> (default 256) from 100 seeded Gaussian clusters; an entity's chunks are its
/// centre plus noise of about half its norm. Queries: further points of the generator, not stored.</remarks>
internal sealed class ChunksScenario : IBenchScenario
{
    private const string Schema = "bench_chunks";
    private const string Model = "bench-chunks";
    private const int K = 10;

    public string Name => "chunks";

    public string Description => "chunks as rows: edit cost of a 20-chunk document, search latency at 5 chunks per entity vs one vector per entity";

    public async Task<BenchResult> RunAsync(BenchContext context, CancellationToken cancellationToken)
    {
        var log = context.Log;
        var entities = context.Integer("--entities", 10_000);
        var dimensions = context.Integer("--dimensions", 256);
        var queryCount = context.Integer("--queries", 200);
        var rounds = context.Integer("--rounds", 5);
        var result = new BenchResult { TableHeader = ["case", "p50 ms", "mean ms", "entities returned (mean)"] };
        result.Notes["loadavg_start"] = LoadAverage();
        var builder = new NpgsqlDataSourceBuilder(await context.GetConnectionStringAsync(cancellationToken))
        {
            ConnectionStringBuilder = { CommandTimeout = 0, Options = "-c maintenance_work_mem=1GB" },
        };
        builder.UseVector();
        await using var dataSource = builder.Build();
        await ExecuteAsync(dataSource, "CREATE EXTENSION IF NOT EXISTS vector", cancellationToken);
        await ExecuteAsync(dataSource, $"DROP SCHEMA IF EXISTS {Schema} CASCADE", cancellationToken);
        await ExecuteAsync(dataSource, $"CREATE SCHEMA {Schema}", cancellationToken);
        await using (var connection = await dataSource.OpenConnectionAsync(cancellationToken))
        {
            await connection.ReloadTypesAsync(cancellationToken);
        }

        await EditCostAsync(dataSource, dimensions, result, log, cancellationToken);
        await SearchLatencyAsync(dataSource, entities, dimensions, queryCount, rounds, result, log, cancellationToken);
        result.Notes["loadavg_end"] = LoadAverage();
        return result;
    }

    private static async Task EditCostAsync(NpgsqlDataSource dataSource, int dimensions, BenchResult result, TextWriter log, CancellationToken cancellationToken)
    {
        var table = new EmbeddingTable(Schema, dimensions, "edit_" + dimensions.ToString(CultureInfo.InvariantCulture));
        await new EmbeddingIndexManager(dataSource).EnsureTableAsync(table, cancellationToken);
        var storage = new PgvectorEmbeddingStorage(dataSource, _ => table);
        var paragraphs = Enumerable.Range(0, 20).Select(Paragraph).ToList();
        foreach (var (name, chunked) in new[] { ("host_chunks", true), ("cl100k_chunker", false) })
        {
            using var counting = new CountingGenerator(new HashingEmbeddingGenerator(dimensions));
            var model = new EmbeddingModel(Model, dimensions, counting)
            {
                Chunker = chunked ? null : new TextChunker(Cl100kTokenCounter.Instance, new TextChunkerOptions { MaxTokens = 256, OverlapTokens = 32 }),
            };
            var documents = new Documents();
            var runtime = new EmbeddingRuntime(new EmbeddingModelRegistry([model]), documents, storage);
            var id = name;
            var generation = 0L;
            async Task<(long Inputs, long Rewritten, long Rows)> IngestAsync(List<string> text)
            {
                documents.Result = chunked ? DocumentResult.Chunked(text) : DocumentResult.Text(string.Join("\n\n", text));
                var since = await ScalarAsync<DateTime>(dataSource, "SELECT clock_timestamp()", cancellationToken);
                var before = counting.Inputs;
                var task = new EmbeddingTask { Id = 1, EntityType = "doc", EntityId = id, Model = Model, Generation = ++generation, LeaseToken = Guid.NewGuid() };
                var outcome = await runtime.HandleAsync([task], cancellationToken);
                if (outcome.Completed.Count != 1)
                {
                    throw new InvalidOperationException($"the edit-cost task did not complete: {string.Join("; ", outcome.Failed.Select(f => f.Error))}");
                }

                await using var command = dataSource.CreateCommand($"SELECT count(*) FILTER (WHERE updated_at > $1), count(*) FROM {table.QualifiedName} WHERE entity_id = $2");
                command.Parameters.AddWithValue(since);
                command.Parameters.AddWithValue(id);
                await using var reader = await command.ExecuteReaderAsync(cancellationToken);
                await reader.ReadAsync(cancellationToken);
                return (counting.Inputs - before, reader.GetInt64(0), reader.GetInt64(1));
            }

            var first = await IngestAsync(paragraphs);
            var edited = new List<string>(paragraphs) { [12] = paragraphs[12].Replace(" the ", " one ", StringComparison.Ordinal) };
            var edit = await IngestAsync(edited);
            var again = await IngestAsync(edited);
            result.Metrics[$"edit_{name}_chunks"] = first.Rows;
            result.Metrics[$"edit_{name}_first_inputs"] = first.Inputs;
            result.Metrics[$"edit_{name}_one_paragraph_inputs"] = edit.Inputs;
            result.Metrics[$"edit_{name}_one_paragraph_rows_rewritten"] = edit.Rewritten;
            result.Metrics[$"edit_{name}_unchanged_inputs"] = again.Inputs;
            result.Metrics[$"edit_{name}_unchanged_rows_rewritten"] = again.Rewritten;
            log.WriteLine($"edit cost ({name}): {first.Rows} chunks, first ingest {first.Inputs} inputs; one paragraph edited: {edit.Inputs} inputs, {edit.Rewritten} rows rewritten; unchanged: {again.Inputs} inputs, {again.Rewritten} rows rewritten");
        }
    }

    private static async Task SearchLatencyAsync(
        NpgsqlDataSource dataSource, int entities, int dimensions, int queryCount, int rounds, BenchResult result, TextWriter log, CancellationToken cancellationToken)
    {
        var single = new EmbeddingTable(Schema, dimensions, "single_" + dimensions.ToString(CultureInfo.InvariantCulture));
        var chunked = new EmbeddingTable(Schema, dimensions, "chunked_" + dimensions.ToString(CultureInfo.InvariantCulture));
        var manager = new EmbeddingIndexManager(dataSource);
        var vectors = new ClusteredVectors(dimensions, 100, seed: 42, spread: 2f);
        var random = new Random(7);
        var singleRecords = new List<EmbeddingRecord>(entities);
        var chunkRecords = new List<EmbeddingRecord>(entities * 5);
        for (var e = 0; e < entities; e++)
        {
            var centre = vectors.Next();
            var key = new EmbeddingTaskKey("doc", e.ToString(CultureInfo.InvariantCulture), Model);
            singleRecords.Add(new EmbeddingRecord(key, centre, [1], 1));
            var count = random.Next(1, 10);
            for (var c = 0; c < count; c++)
            {
                chunkRecords.Add(new EmbeddingRecord(key, Jitter(centre, random), [(byte)c], 1) { Chunk = c, ChunkStart = c * 1000, ChunkLength = 1000, ChunkCount = count });
            }
        }

        foreach (var (table, records) in new[] { (single, singleRecords), (chunked, chunkRecords) })
        {
            var watch = Stopwatch.StartNew();
            await manager.EnsureTableAsync(table, cancellationToken);
            var storage = new PgvectorEmbeddingStorage(dataSource, _ => table);
            foreach (var batch in records.Chunk(5000))
            {
                await storage.UpsertAsync(batch, cancellationToken);
            }

            await manager.EnsureModelIndexesAsync(table, Model, cancellationToken);
            await ExecuteAsync(dataSource, $"ANALYZE {table.QualifiedName}", cancellationToken);
            log.WriteLine($"{table}: {records.Count:N0} rows loaded and indexed in {watch.Elapsed.TotalSeconds:0} s");
        }

        result.Notes["data"] = string.Create(CultureInfo.InvariantCulture, $"{entities:N0} entities, {dimensions}-d; one vector each vs {chunkRecords.Count:N0} chunks ({chunkRecords.Count / (double)entities:0.00} per entity); {queryCount} held-out queries, k = {K}, {rounds} interleaved rounds");
        var queries = Enumerable.Range(0, queryCount).Select(_ => vectors.Next()).ToList();
        var search = new PgvectorSearch(dataSource);
        var before = BeforeGroupingSql(single);
        var cases = new List<(string Name, Func<Half[], Task<int>> Run)>
        {
            ("hnsw one vector per entity, before grouping (old SQL)", q => RunOldAsync(dataSource, before, q, cancellationToken)),
            ("hnsw one vector per entity", async q => (await search.SearchAsync(single, Model, q, new VectorSearchOptions { K = K, Path = SearchPath.Hnsw }, cancellationToken: cancellationToken)).Hits.Count),
            ("hnsw one vector per entity, ChunkOversample 1", async q => (await search.SearchAsync(single, Model, q, new VectorSearchOptions { K = K, Path = SearchPath.Hnsw, ChunkOversample = 1 }, cancellationToken: cancellationToken)).Hits.Count),
            ("hnsw 5 chunks per entity", async q => (await search.SearchAsync(chunked, Model, q, new VectorSearchOptions { K = K, Path = SearchPath.Hnsw }, cancellationToken: cancellationToken)).Hits.Count),
            ("hnsw 5 chunks per entity, mean of top two", async q => (await search.SearchAsync(chunked, Model, q, new VectorSearchOptions { K = K, Path = SearchPath.Hnsw, Grouping = ChunkGrouping.MeanOfTopTwo }, cancellationToken: cancellationToken)).Hits.Count),
            ("two-stage one vector per entity", async q => (await search.SearchAsync(single, Model, q, new VectorSearchOptions { K = K, Path = SearchPath.TwoStage }, cancellationToken: cancellationToken)).Hits.Count),
            ("two-stage 5 chunks per entity", async q => (await search.SearchAsync(chunked, Model, q, new VectorSearchOptions { K = K, Path = SearchPath.TwoStage }, cancellationToken: cancellationToken)).Hits.Count),
        };
        var timings = cases.Select(_ => new List<double>()).ToList();
        var returned = cases.Select(_ => 0L).ToArray();
        foreach (var q in queries.Take(20))
        {
            foreach (var (_, run) in cases)
            {
                await run(q);
            }
        }

        // Interleaved query by query (every case runs each query before the next query), so that load changes on a busy
        // machine fall on all cases alike.
        for (var r = 0; r < rounds; r++)
        {
            foreach (var q in queries)
            {
                for (var c = 0; c < cases.Count; c++)
                {
                    var started = Stopwatch.GetTimestamp();
                    returned[c] += await cases[c].Run(q);
                    timings[c].Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                }
            }
        }

        var p50 = new double[cases.Count];
        for (var c = 0; c < cases.Count; c++)
        {
            var sorted = timings[c].Order().ToList();
            p50[c] = sorted[sorted.Count / 2];
            var mean = sorted.Average();
            var entitiesReturned = returned[c] / (double)(rounds * queries.Count);
            result.Table.Add([cases[c].Name, Format(p50[c], "0.000"), Format(mean, "0.000"), Format(entitiesReturned, "0.00")]);
            log.WriteLine($"{cases[c].Name}: p50 {p50[c]:0.000} ms, mean {mean:0.000} ms, {entitiesReturned:0.00} entities");
        }

        result.Metrics["search_hnsw_single_p50_ms"] = p50[1];
        result.Metrics["search_hnsw_chunked_p50_ms"] = p50[3];
        result.Metrics["search_hnsw_chunked_over_single"] = p50[3] / p50[1];
        result.Metrics["search_hnsw_single_grouped_over_before"] = p50[1] / p50[0];
        result.Metrics["search_hnsw_single_chunk_oversample_1_over_before"] = p50[2] / p50[0];
        result.Metrics["search_hnsw_mean_top_two_over_best_chunk"] = p50[4] / p50[3];
        result.Metrics["search_two_stage_single_p50_ms"] = p50[5];
        result.Metrics["search_two_stage_chunked_p50_ms"] = p50[6];
        result.Metrics["search_two_stage_chunked_over_single"] = p50[6] / p50[5];

        // Entity recall@10 of the grouped HNSW search against exact grouped search on the chunked table.
        double recall = 0;
        foreach (var q in queries)
        {
            var exact = (await search.SearchAsync(chunked, Model, q, new VectorSearchOptions { K = K, Path = SearchPath.Exact }, cancellationToken: cancellationToken)).Hits.Select(h => h.EntityId).ToHashSet(StringComparer.Ordinal);
            var hnsw = (await search.SearchAsync(chunked, Model, q, new VectorSearchOptions { K = K, Path = SearchPath.Hnsw }, cancellationToken: cancellationToken)).Hits;
            recall += hnsw.Count(h => exact.Contains(h.EntityId)) / (double)K;
        }

        result.Metrics["search_hnsw_chunked_entity_recall_at_10"] = recall / queries.Count;
    }

    // The HNSW statement before chunk grouping (as PgvectorSearch built it), run with the same settings in one round trip.
    private static string BeforeGroupingSql(EmbeddingTable table) => $"""
        WITH nearest AS MATERIALIZED (
            SELECT entity_type, entity_id, embedding {table.DistanceOperator} $1::{table.VectorType} AS distance FROM {table.QualifiedName}
            WHERE {EmbeddingTable.ModelPredicate(Model)}
            ORDER BY distance
            LIMIT $2
        )
        SELECT entity_type, entity_id, (-distance)::float8 FROM nearest
        ORDER BY distance
        """;

    private static async Task<int> RunOldAsync(NpgsqlDataSource dataSource, string sql, Half[] query, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var batch = new NpgsqlBatch(connection);
        batch.BatchCommands.Add(new NpgsqlBatchCommand("BEGIN"));
        batch.BatchCommands.Add(new NpgsqlBatchCommand(string.Create(CultureInfo.InvariantCulture, $"SET LOCAL hnsw.ef_search = {VectorSearchDefaults.EfSearch}")));
        var command = new NpgsqlBatchCommand(sql);
        command.Parameters.Add(new NpgsqlParameter<HalfVector> { TypedValue = new HalfVector(query), DataTypeName = "halfvec" });
        command.Parameters.Add(new NpgsqlParameter<int> { TypedValue = K });
        batch.BatchCommands.Add(command);
        batch.BatchCommands.Add(new NpgsqlBatchCommand("COMMIT"));
        var rows = 0;
        await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            rows++;
        }

        while (await reader.NextResultAsync(cancellationToken))
        {
        }

        return rows;
    }

    private static Half[] Jitter(Half[] centre, Random random)
    {
        var values = new float[centre.Length];
        var scale = 0.5f / MathF.Sqrt(centre.Length);
        for (var i = 0; i < values.Length; i++)
        {
            // Box-Muller: a standard normal per coordinate.
            var u = 1.0 - random.NextDouble();
            var v = random.NextDouble();
            values[i] = (float)centre[i] + (scale * (float)(Math.Sqrt(-2 * Math.Log(u)) * Math.Cos(2 * Math.PI * v)));
        }

        return ClusteredVectors.ToHalf(ClusteredVectors.Normalize(values));
    }

    private static string Paragraph(int i)
    {
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"Section {i} of the manual.");
        for (var s = 0; s < 12; s++)
        {
            text.Append(CultureInfo.InvariantCulture, $" The worker number {i * 100 + s} claims the tasks of the queue and stores their vectors in the table.");
        }

        return text.ToString();
    }

    private static async Task ExecuteAsync(NpgsqlDataSource dataSource, string sql, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(sql);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private static async Task<T> ScalarAsync<T>(NpgsqlDataSource dataSource, string sql, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(sql);
        return (T)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    private static string LoadAverage() => File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Trim() : "n/a";

    private static string Format(double value, string format) => value.ToString(format, CultureInfo.InvariantCulture);

    /// <summary>One document, whatever the id.</summary>
    private sealed class Documents : IDocumentBuilder
    {
        public DocumentResult Result { get; set; } = DocumentResult.Gone;

        public ValueTask<IReadOnlyDictionary<string, DocumentResult>> BuildAsync(string entityType, IReadOnlyList<string> entityIds, CancellationToken cancellationToken = default) =>
            ValueTask.FromResult<IReadOnlyDictionary<string, DocumentResult>>(entityIds.ToDictionary(id => id, _ => Result, StringComparer.Ordinal));
    }

    /// <summary>Counts the inputs that reach the embedder (the provider inputs of a remote model).</summary>
    private sealed class CountingGenerator(IEmbeddingGenerator<string, Embedding<float>> inner) : DelegatingEmbeddingGenerator<string, Embedding<float>>(inner)
    {
        private long _inputs;

        public long Inputs => Interlocked.Read(ref _inputs);

        public override Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(IEnumerable<string> values, EmbeddingGenerationOptions? options = null, CancellationToken cancellationToken = default)
        {
            var list = values.ToList();
            Interlocked.Add(ref _inputs, list.Count);
            return base.GenerateAsync(list, options, cancellationToken);
        }
    }
}
