using System.Globalization;
using EmbeddingKit.Embedders;
using EmbeddingKit.Postgres;
using EmbeddingKit.Postgres.Search;
using EmbeddingKit.Postgres.Storage;
using EmbeddingKit.Storage;
using EmbeddingKit.Tasks;
using EmbeddingKit.Vectors;
using Npgsql;

namespace EmbeddingKit.Bench.Scenarios;

/// <summary>
/// Issue 12 item 19: the search settings a new user gets, on real short text. Reads the documents the CLI demo ingested
/// (<c>embeddingkit demo --limit 1322 --schema S</c>; pass <c>--schema S</c>), embeds them with the hashing model at 384
/// and 128 dimensions, and compares, on labelled queries, the old default (two-stage, oversample 16), the new default
/// (<see cref="VectorSearchDefaults.PathFor"/>), the quick tune that <c>models activate</c> saves, and exact search.
/// </summary>
/// <remarks>Labelled queries: a seeded sample of documents; the query is the package's one-line summary without its
/// name (the document is <c>name: summary[\n long description]</c>), the label is that package. Reported: hit@10 (the
/// label among the top 10), recall@10 against exact search, and top-1 agreement with exact search.</remarks>
internal sealed class SearchDefaultsScenario : IBenchScenario
{
    private const int K = 10;

    public string Name => "search-defaults";

    public string Description => "old vs new default search settings on the demo's Debian text with the hashing model (labelled queries)";

    public async Task<BenchResult> RunAsync(BenchContext context, CancellationToken cancellationToken)
    {
        var schema = PostgresIdentifier.Validate(StringArgument(context, "--schema") ?? "public", "--schema");
        var queryCount = context.Integer("--queries", 200);
        var result = new BenchResult { TableHeader = ["dimensions", "setting", "hit@10", "recall@10 vs exact", "top-1 = exact"] };
        var builder = new NpgsqlDataSourceBuilder(await context.GetConnectionStringAsync(cancellationToken));
        builder.UseVector();
        await using var dataSource = builder.Build();

        var documents = new List<(string Id, string Text)>();
        await using (var command = dataSource.CreateCommand($"SELECT id, text FROM {PostgresIdentifier.Qualify(schema, "embeddingkit_documents")} WHERE entity_type = 'debian-package' ORDER BY id"))
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                documents.Add((reader.GetString(0), reader.GetString(1)));
            }
        }

        var random = new Random(12);
        var labelled = documents.OrderBy(_ => random.Next()).Take(queryCount)
            .Select(d => (d.Id, Query: d.Text.Split('\n')[0][(d.Id.Length + 2)..])).ToList();
        result.Notes["data"] = string.Create(CultureInfo.InvariantCulture, $"{documents.Count} Debian package descriptions from schema {schema}; {labelled.Count} labelled queries (summary -> package)");
        context.Log.WriteLine(result.Notes["data"]);

        foreach (var dimensions in new[] { 384, 128 })
        {
            var model = "hashing-" + dimensions.ToString(CultureInfo.InvariantCulture);
            using var generator = new HashingEmbeddingGenerator(dimensions);
            var table = new EmbeddingTable(schema, dimensions, "bench_defaults_" + dimensions.ToString(CultureInfo.InvariantCulture));
            var manager = new EmbeddingIndexManager(dataSource);
            await manager.EnsureTableAsync(table, cancellationToken);
            var records = new List<EmbeddingRecord>(documents.Count);
            foreach (var chunk in documents.Chunk(256))
            {
                var embeddings = await generator.GenerateAsync(chunk.Select(d => d.Text), cancellationToken: cancellationToken);
                records.AddRange(chunk.Select((d, i) => new EmbeddingRecord(new EmbeddingTaskKey("debian-package", d.Id, model), Normalize(embeddings[i].Vector.Span), [1], 1)));
            }

            await new PgvectorEmbeddingStorage(dataSource, _ => table).UpsertAsync(records, cancellationToken);
            await manager.EnsureModelIndexesAsync(table, model, cancellationToken);
            await using (var analyze = dataSource.CreateCommand($"ANALYZE {table.QualifiedName}"))
            {
                await analyze.ExecuteNonQueryAsync(cancellationToken);
            }

            var queries = new List<Half[]>(labelled.Count);
            var queryEmbeddings = await generator.GenerateAsync(labelled.Select(l => l.Query), cancellationToken: cancellationToken);
            queries.AddRange(queryEmbeddings.Select(e => Normalize(e.Vector.Span)));
            var tuned = (await new SearchTuner(dataSource).TuneAsync(table, model, new SearchTunerOptions { SampleSize = 50, EntityType = "debian-package" }, cancellationToken)).Recommendation;

            var search = new PgvectorSearch(dataSource);
            var exact = await RunAsync(new VectorSearchOptions { K = K, Path = SearchPath.Exact });
            var settings = new (string Name, VectorSearchOptions Options)[]
            {
                ("exact", new VectorSearchOptions { K = K, Path = SearchPath.Exact }),
                ("old default: two-stage, oversample 16", new VectorSearchOptions { K = K, Path = SearchPath.TwoStage, Oversample = VectorSearchDefaults.Oversample }),
                ($"new default: {VectorSearchDefaults.PathFor(dimensions)}", new VectorSearchOptions { K = K, Path = VectorSearchDefaults.PathFor(dimensions) }),
                ($"quick tune: {tuned.Path}, oversample {tuned.Oversample}, ef_search {tuned.EfSearch}", tuned.ToSearchOptions(K)),
            };
            foreach (var (name, options) in settings)
            {
                var hits = await RunAsync(options);
                var hit10 = labelled.Select((l, i) => hits[i].Contains(l.Id) ? 1.0 : 0).Average();
                var recall = hits.Select((h, i) => h.Count(exact[i].Contains) / (double)Math.Max(1, exact[i].Count)).Average();
                var top1 = hits.Select((h, i) => h.Count > 0 && exact[i].Count > 0 && h[0] == exact[i][0] ? 1.0 : 0).Average();
                result.Table.Add([dimensions.ToString(CultureInfo.InvariantCulture), name, hit10.ToString("0.000", CultureInfo.InvariantCulture), recall.ToString("0.000", CultureInfo.InvariantCulture), top1.ToString("0.000", CultureInfo.InvariantCulture)]);
                var key = name.Split(':')[0].Replace(' ', '_');
                result.Metrics[$"d{dimensions}_{key}_hit_at_10"] = hit10;
                result.Metrics[$"d{dimensions}_{key}_recall_at_10"] = recall;
                result.Metrics[$"d{dimensions}_{key}_top1_agreement"] = top1;
            }

            async Task<List<List<string>>> RunAsync(VectorSearchOptions options)
            {
                var all = new List<List<string>>(queries.Count);
                foreach (var query in queries)
                {
                    var found = await search.SearchAsync(table, model, query, options, cancellationToken: cancellationToken);
                    all.Add([.. found.Hits.Select(h => h.EntityId)]);
                }

                return all;
            }
        }

        return result;
    }

    private static Half[] Normalize(ReadOnlySpan<float> vector)
    {
        var half = new Half[vector.Length];
        VectorMath.NormalizeToHalf(vector, half);
        return half;
    }

    private static string? StringArgument(BenchContext context, string name)
    {
        for (var i = 0; i + 1 < context.Arguments.Count; i++)
        {
            if (context.Arguments[i] == name)
            {
                return context.Arguments[i + 1];
            }
        }

        return null;
    }
}
