using System.Diagnostics;
using System.Globalization;
using EmbeddingKit.Chunking;
using EmbeddingKit.Hosting;
using EmbeddingKit.Postgres.Migrations;
using EmbeddingKit.Postgres.Search;
using EmbeddingKit.Postgres.Storage;
using EmbeddingKit.Runtime;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Pgvector.Npgsql;

namespace EmbeddingKit.Bench.Scenarios.Quality;

/// <summary>
/// The man-page evaluation on the path a host runs (<c>--man-stored 1</c>): the pages stored through
/// <c>AddEmbeddingKit(...).UsePostgres(...)</c> and the worker — <b>truncate</b> as one vector per page (the model cuts
/// at its window), <b>chunk</b> as the document builder's own chunks (the same chunker and title prefix as the in-memory
/// rows), one row per chunk — then every query searched through <see cref="EmbeddingSearchService"/>, which groups chunks
/// by entity in the database (best chunk), on the exact and the HNSW paths.
/// </summary>
internal static class ManPageStoredEvaluation
{
    private const int K = 10;
    private const string EntityType = "man-page";

    public static async Task RunAsync(
        BenchContext context, BenchResult result, string system, EmbeddingModel model, IReadOnlyList<ManPage> pages, bool[] isLong, TextChunker chunker, string suffix,
        CancellationToken cancellationToken)
    {
        var builder = new NpgsqlDataSourceBuilder(await context.GetConnectionStringAsync(cancellationToken)) { ConnectionStringBuilder = { CommandTimeout = 0 } };
        builder.UseVector();
        await using var dataSource = builder.Build();
        await using (var command = dataSource.CreateCommand("CREATE EXTENSION IF NOT EXISTS vector"))
        {
            await command.ExecuteNonQueryAsync(cancellationToken);
        }

        await using (var connection = await dataSource.OpenConnectionAsync(cancellationToken))
        {
            await connection.ReloadTypesAsync(cancellationToken);
        }

        foreach (var chunked in new[] { false, true })
        {
            var path = chunked ? $"stored_chunk_best{suffix}" : "stored_truncate";
            var schema = $"bench_man_{VectorQualitySystem.Key(model.Name).Replace('.', '_')}_{(chunked ? "chunk" : "truncate")}";
            await using (var command = dataSource.CreateCommand($"DROP SCHEMA IF EXISTS {schema} CASCADE"))
            {
                await command.ExecuteNonQueryAsync(cancellationToken);
            }

            await EmbeddingKitMigrations.ApplyAsync(dataSource, schema, cancellationToken);
            var services = new ServiceCollection();
            services.AddLogging();
            services.AddEmbeddingKit(kit => kit
                .AddModel(model)
                .UseDocumentBuilder(new Pages(pages, chunked ? chunker : null))
                .UsePostgres(dataSource, schema)
                .AddWorker(o =>
                {
                    o.BatchSize = 16;
                    o.Concurrency = 1;
                    o.PollInterval = TimeSpan.FromMilliseconds(50);
                    o.StatsInterval = TimeSpan.Zero;
                }));
            await using var container = services.BuildServiceProvider();
            var storage = container.GetRequiredService<PgvectorEmbeddingStorage>();
            var table = storage.GetTable(model.Name);
            var indexes = container.GetRequiredService<EmbeddingIndexManager>();
            await indexes.EnsureTableAsync(table, cancellationToken);

            var watch = Stopwatch.StartNew();
            await WorkerDrain.RunAsync(container, EntityType, [.. Enumerable.Range(0, pages.Count).Select(i => i.ToString(CultureInfo.InvariantCulture))], "man pages", cancellationToken);

            await indexes.EnsureModelIndexesAsync(table, model.Name, cancellationToken);
            await using (var command = dataSource.CreateCommand($"VACUUM ANALYZE {table.QualifiedName}"))
            {
                await command.ExecuteNonQueryAsync(cancellationToken);
            }

            await using (var command = dataSource.CreateCommand($"SELECT count(*) FROM {table.QualifiedName}"))
            {
                result.Metrics[$"man_{VectorQualitySystem.Key(model.Name)}_{path}_rows"] = (long)(await command.ExecuteScalarAsync(cancellationToken))!;
            }

            context.Log.WriteLine($"  {system} {path}: {pages.Count} pages stored through the worker in {watch.Elapsed.TotalSeconds:0.0} s");
            var search = container.GetRequiredService<EmbeddingSearchService>();
            foreach (var (searchPath, name) in new[] { (SearchPath.Exact, "exact"), (SearchPath.Hnsw, "hnsw") })
            {
                var ranks = new int?[pages.Count];
                for (var q = 0; q < pages.Count; q++)
                {
                    var hits = await search.SearchAsync(pages[q].Query, EntityType, K, path: searchPath, cancellationToken: cancellationToken);
                    var rank = hits.Hits.Select(h => h.EntityId).ToList().IndexOf(q.ToString(CultureInfo.InvariantCulture));
                    ranks[q] = rank < 0 ? null : rank;
                }

                ManPageEvaluation.Record(result, system, $"{path}_{name}", ranks, isLong);
            }
        }
    }

    /// <summary>Each page as its text (truncate: the model cuts at its window) or as the chunker's chunks with the title
    /// repeated in each (chunk), the builder's own chunks.</summary>
    private sealed class Pages(IReadOnlyList<ManPage> pages, TextChunker? chunker) : IDocumentBuilder
    {
        public ValueTask<IReadOnlyDictionary<string, DocumentResult>> BuildAsync(string entityType, IReadOnlyList<string> entityIds, CancellationToken cancellationToken = default)
        {
            IReadOnlyDictionary<string, DocumentResult> result = entityIds.ToDictionary(
                id => id,
                id =>
                {
                    var page = pages[int.Parse(id, CultureInfo.InvariantCulture)];
                    return chunker is null ? DocumentResult.Text(page.Document) : DocumentResult.Chunked(page.Document, chunker.Chunk(page.Document, page.Title));
                },
                StringComparer.Ordinal);
            return ValueTask.FromResult(result);
        }
    }
}
