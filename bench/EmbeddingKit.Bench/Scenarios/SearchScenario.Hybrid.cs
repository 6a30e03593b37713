using System.Diagnostics;
using EmbeddingKit.Bench.Scenarios.Quality;
using EmbeddingKit.Postgres.Migrations;
using EmbeddingKit.Postgres.Search;
using EmbeddingKit.Postgres.Storage;
using Npgsql;
using NpgsqlTypes;

namespace EmbeddingKit.Bench.Scenarios;

/// <content>Hybrid search's latency (issue 15) on the same table: every row gets a lexical document of real text, and
/// each query is run on a vector path alone and fused with the lexical list, interleaved query by query.</content>
internal sealed partial class SearchScenario
{
    private static async Task HybridAsync(
        NpgsqlDataSource dataSource, EmbeddingTable table, List<Half[]> queries, int rows, int oversample, int efSearch,
        BenchResult result, TextWriter log, CancellationToken cancellationToken)
    {
        // Real text nobody here wrote: the Debian package descriptions of the quality scenario, cycled over the rows
        // (a description stands for about rows / descriptions rows); query text: their synopses.
        var (pairs, sources) = await QualityCorpus.ReadAsync(100_000, 42, cancellationToken);
        log.WriteLine($"hybrid: lexical documents for {rows:N0} rows from {pairs.Count} descriptions ({sources})");
        await EmbeddingKitMigrations.ApplyAsync(dataSource, table.Schema, cancellationToken);
        var lexical = new LexicalIndex(dataSource, table.Schema);
        var documents = EmbeddingKit.Postgres.PostgresIdentifier.Qualify(table.Schema, "embeddingkit_lexical_documents");
        await using (var clear = dataSource.CreateCommand($"TRUNCATE {documents}"))
        {
            await clear.ExecuteNonQueryAsync(cancellationToken); // a kept schema's documents (--hybrid-schema)
        }

        var load = Stopwatch.StartNew();
        await using (var command = dataSource.CreateCommand($"""
            INSERT INTO {documents} (entity_type, entity_id, document, generation)
            SELECT 'doc', i::text, to_tsvector('english', $1[1 + i % cardinality($1)]), 1 FROM generate_series(0, $2 - 1) AS i
            """))
        {
            command.CommandTimeout = 0;
            command.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = [.. pairs.Select(p => p.Document)], NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text });
            command.Parameters.Add(new NpgsqlParameter<int> { TypedValue = rows });
            await command.ExecuteNonQueryAsync(cancellationToken);
        }

        await using (var command = dataSource.CreateCommand($"VACUUM ANALYZE {documents}"))
        {
            command.CommandTimeout = 0;
            await command.ExecuteNonQueryAsync(cancellationToken);
        }

        result.Metrics["lexical_load_s"] = load.Elapsed.TotalSeconds;
        var search = new PgvectorSearch(dataSource);
        var texts = queries.Select((_, i) => pairs[i % pairs.Count].Query).ToList();
        var fused = new HybridSearchOptions { K = K, EntityType = "doc" };
        log.WriteLine($"hybrid: {queries.Count} queries, each path alone and fused (k {K}, depth {fused.Settings.VectorDepth}), interleaved");
        foreach (var (name, path, vectorOptions) in new[]
        {
            ("hnsw", SearchPath.Hnsw, new VectorSearchOptions { K = K, Path = SearchPath.Hnsw, EfSearch = efSearch, EntityType = "doc" }),
            ("two_stage", SearchPath.TwoStage, new VectorSearchOptions { K = K, Path = SearchPath.TwoStage, Oversample = oversample, EntityType = "doc" }),
        })
        {
            var alone = new double[queries.Count];
            var hybrid = new double[queries.Count];
            HybridVectorList List(int i) => new(table, Model, queries[i]) { Path = path, Oversample = oversample, EfSearch = efSearch };

            // Warm-up of both statements, then each query alone and fused, alternating which goes first.
            for (var i = 0; i < Math.Min(10, queries.Count); i++)
            {
                await search.SearchAsync(table, Model, queries[i], vectorOptions, cancellationToken: cancellationToken);
                await search.HybridSearchAsync([List(i)], texts[i], lexical, fused, cancellationToken: cancellationToken);
            }

            for (var i = 0; i < queries.Count; i++)
            {
                for (var turn = 0; turn < 2; turn++)
                {
                    var watch = Stopwatch.StartNew();
                    if ((turn + i) % 2 == 0)
                    {
                        await search.SearchAsync(table, Model, queries[i], vectorOptions, cancellationToken: cancellationToken);
                        alone[i] = watch.Elapsed.TotalMilliseconds;
                    }
                    else
                    {
                        await search.HybridSearchAsync([List(i)], texts[i], lexical, fused, cancellationToken: cancellationToken);
                        hybrid[i] = watch.Elapsed.TotalMilliseconds;
                    }
                }
            }

            Array.Sort(alone);
            Array.Sort(hybrid);
            result.Metrics[$"hybrid_{name}_alone_p50_ms"] = Percentile(alone, 0.5);
            result.Metrics[$"hybrid_{name}_p50_ms"] = Percentile(hybrid, 0.5);
            result.Metrics[$"hybrid_{name}_p99_ms"] = Percentile(hybrid, 0.99);
            result.Metrics[$"hybrid_to_{name}_p50_ratio"] = Percentile(hybrid, 0.5) / Percentile(alone, 0.5);
            result.Table.Add(["hybrid", path.ToString(), Format(oversample), Format(efSearch), "-", Format(Percentile(hybrid, 0.5), "0.00"), Format(Percentile(hybrid, 0.99), "0.00")]);
            log.WriteLine($"  {name}: alone p50 {Percentile(alone, 0.5):0.00} ms, fused p50 {Percentile(hybrid, 0.5):0.00} ms");
        }

        // The lexical list alone, with the default rank limit and ranking every match (the code before the limit),
        // interleaved query by query.
        var unlimitedOptions = new HybridSearchOptions { K = K, EntityType = "doc", LexicalRankLimit = null };
        var lexicalOnly = new double[queries.Count];
        var lexicalUnlimited = new double[queries.Count];
        for (var i = 0; i < queries.Count; i++)
        {
            for (var turn = 0; turn < 2; turn++)
            {
                var limited = (turn + i) % 2 == 0;
                var watch = Stopwatch.StartNew();
                await search.HybridSearchAsync([], texts[i], lexical, limited ? fused : unlimitedOptions, cancellationToken: cancellationToken);
                (limited ? lexicalOnly : lexicalUnlimited)[i] = watch.Elapsed.TotalMilliseconds;
            }
        }

        Array.Sort(lexicalOnly);
        Array.Sort(lexicalUnlimited);
        result.Metrics["lexical_p50_ms"] = Percentile(lexicalOnly, 0.5);
        result.Metrics["lexical_p99_ms"] = Percentile(lexicalOnly, 0.99);
        result.Metrics["lexical_unlimited_p50_ms"] = Percentile(lexicalUnlimited, 0.5);
        result.Metrics["lexical_rank_limit_speedup"] = Percentile(lexicalUnlimited, 0.5) / Percentile(lexicalOnly, 0.5);
        log.WriteLine($"  lexical alone: p50 {Percentile(lexicalOnly, 0.5):0.00} ms with the rank limit ({fused.LexicalRankLimit}), {Percentile(lexicalUnlimited, 0.5):0.00} ms ranking every match");
    }
}
