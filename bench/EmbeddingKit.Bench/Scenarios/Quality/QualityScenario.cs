using System.Globalization;
using EmbeddingKit.Embedders;
using EmbeddingKit.Onnx;
using EmbeddingKit.Runtime;
using Npgsql;

namespace EmbeddingKit.Bench.Scenarios.Quality;

/// <summary>
/// Retrieval quality on real text: each Debian package's synopsis as the query, its long description as the one right
/// document (see <see cref="QualityCorpus"/>), a seeded sample of <c>--pairs</c> (default 3,000). recall@10 and MRR@10
/// for every system of <see cref="Systems"/> on each of its paths (exact and two-stage). The yardstick later work
/// (hybrid search, chunking) adds its systems to.
/// </summary>
internal sealed class QualityScenario : IBenchScenario
{
    private const int K = 10;

    public string Name => "quality";

    public string Description => "recall@10 and MRR@10 of hashing and the local presets, fp32 and int8 (exact vs two-stage; vector, lexical and hybrid) on Debian synopsis -> description pairs";

    /// <summary>The systems evaluated, on the same pairs. <c>--systems a,b</c> picks some by name.</summary>
    public static IReadOnlyList<Func<IQualitySystem>> Systems { get; } =
    [
        () => new VectorQualitySystem(new EmbeddingModel("hashing-384", 384, new HashingEmbeddingGenerator(384))),
        () => new VectorQualitySystem(LocalModels.AllMiniLmL6V2.ToEmbeddingModel()),
        () => new VectorQualitySystem(LocalModels.ArcticEmbedXs.ToEmbeddingModel()),

        // Long input: the presets cut at 512 tokens (the carrier's limit, no windows); these cut at 256 to measure what
        // the tokens past 256 are worth.
        () => new VectorQualitySystem((LocalModels.AllMiniLmL6V2 with { Name = "all-minilm-l6-v2-256t", MaxTokens = 256 }).ToEmbeddingModel()),
        () => new VectorQualitySystem((LocalModels.ArcticEmbedXs with { Name = "arctic-embed-xs-256t", MaxTokens = 256 }).ToEmbeddingModel()),

        // Int8 weights (issue 14): what quantizing the presets at load time costs in retrieval quality.
        () => new VectorQualitySystem(LocalModels.AllMiniLmL6V2Int8.ToEmbeddingModel()),
        () => new VectorQualitySystem(LocalModels.ArcticEmbedXsInt8.ToEmbeddingModel()),

        // Hybrid search (issue 15): vector alone, lexical alone, fused by default and by the tuned settings, through the
        // composed search service.
        () => new HybridQualitySystem(new EmbeddingModel("hashing-384", 384, new HashingEmbeddingGenerator(384))),
        () => new HybridQualitySystem(LocalModels.ArcticEmbedXs.ToEmbeddingModel()),
    ];

    public async Task<BenchResult> RunAsync(BenchContext context, CancellationToken cancellationToken)
    {
        var log = context.Log;
        var result = new BenchResult();
        result.Notes["load_average_start"] = Local.LocalScenario.LoadAverage();
        var count = context.Integer("--pairs", 3000);
        var seed = context.Integer("--seed", 42);
        var wanted = context.Arguments.SkipWhile(a => a != "--systems").Skip(1).FirstOrDefault()?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (context.Integer("--man-pages", 0) is var manPages and > 0)
        {
            // Long documents (issue 16): truncate to the window vs chunk, in memory; `--systems none` runs only this.
            await ManPageEvaluation.RunAsync(context, result, manPages, seed, cancellationToken);
        }

        var (pairs, sources) = await QualityCorpus.ReadAsync(count, seed, cancellationToken);
        log.WriteLine($"{pairs.Count} pairs from {sources}; seed {seed}");
        result.Notes["pairs"] = $"{pairs.Count} pairs (seed {seed}) from {sources}; median document {pairs.Select(p => p.Document.Length).Order().ElementAt(pairs.Count / 2)} chars";
        result.Metrics["pairs"] = pairs.Count;

        var connectionString = await context.GetConnectionStringAsync(cancellationToken);
        var builder = new NpgsqlDataSourceBuilder(connectionString) { ConnectionStringBuilder = { CommandTimeout = 0 } };
        builder.UseVector();
        await using var dataSource = builder.Build();
        const string Schema = "bench_quality";
        await using (var command = dataSource.CreateCommand($"CREATE EXTENSION IF NOT EXISTS vector; DROP SCHEMA IF EXISTS {Schema} CASCADE; CREATE SCHEMA {Schema}"))
        {
            await command.ExecuteNonQueryAsync(cancellationToken);
        }

        await using (var connection = await dataSource.OpenConnectionAsync(cancellationToken))
        {
            await connection.ReloadTypesAsync(cancellationToken);
        }

        var fusionBudget = context.Number("--fusion-budget-ms", 0);
        var quality = new QualityContext(dataSource, Schema, log) { Budget = fusionBudget > 0 ? TimeSpan.FromMilliseconds(fusionBudget) : null };
        result.TableHeader = ["system", "path", "recall@10", "MRR@10"];
        var mrr = new Dictionary<(string System, string Path), double>();
        var recall = new Dictionary<(string System, string Path), double>();
        foreach (var create in Systems)
        {
            var system = create();
            if (wanted is not null && !wanted.Contains(system.Name, StringComparer.Ordinal))
            {
                continue;
            }

            log.WriteLine($"{system.Name}: indexing {pairs.Count} documents");
            await system.PrepareAsync(quality, pairs, cancellationToken);
            // --dump-lists FILE: each held-out query's vector and lexical lists (100 deep) as JSON lines, per hybrid system.
            if (system is HybridQualitySystem hybridSystem && context.Arguments.SkipWhile(a => a != "--dump-lists").Skip(1).FirstOrDefault() is { } dump)
            {
                await hybridSystem.DumpListsAsync(pairs, $"{dump}.{VectorQualitySystem.Key(system.Name)}.jsonl", 100, cancellationToken);
            }

            foreach (var path in system.Paths)
            {
                double hits = 0, reciprocal = 0;
                var scored = 0;
                foreach (var (pair, index) in pairs.Select((p, i) => (p, i)))
                {
                    if (!system.Evaluates(index))
                    {
                        continue;
                    }

                    scored++;
                    var found = await system.SearchAsync(path, pair.Query, K, cancellationToken);
                    var rank = IndexOf(found, pair.Id);
                    if (rank >= 0)
                    {
                        hits++;
                        reciprocal += 1.0 / (rank + 1);
                    }
                }

                var key = (system.Name, path);
                recall[key] = hits / scored;
                mrr[key] = reciprocal / scored;
                var name = VectorQualitySystem.Key(system.Name);
                result.Metrics[$"recall_at_10_{name}_{path}"] = recall[key];
                result.Metrics[$"mrr_at_10_{name}_{path}"] = mrr[key];
                result.Table.Add([system.Name, path, F(recall[key]), F(mrr[key])]);
                log.WriteLine($"  {system.Name} {path}: recall@10 {recall[key]:0.000}, MRR@10 {mrr[key]:0.000}");
            }

            if (recall.TryGetValue((system.Name, VectorQualitySystem.Exact), out var exact) && recall.TryGetValue((system.Name, VectorQualitySystem.TwoStage), out var twoStage))
            {
                result.Metrics[$"two_stage_recall_loss_{VectorQualitySystem.Key(system.Name)}"] = exact - twoStage;
            }
        }

        // Hybrid search's gain: the tuned fusion against the better single side, on the same (held-out) queries.
        foreach (var ((system, path), value) in mrr.Where(e => e.Key.Path == "hybrid_tuned").ToList())
        {
            if (mrr.TryGetValue((system, "vector"), out var vector) && mrr.TryGetValue((system, "lexical"), out var lexical))
            {
                result.Metrics[$"hybrid_gain_mrr_at_10_{VectorQualitySystem.Key(system)}"] = value - Math.Max(vector, lexical);
            }
        }

        foreach (var (name, value) in quality.Figures)
        {
            result.Metrics[name] = value;
        }

        foreach (var preset in LocalModels.All)
        {
            if (mrr.TryGetValue((preset.Name, VectorQualitySystem.Exact), out var ours) && mrr.TryGetValue(("hashing-384", VectorQualitySystem.Exact), out var hashing) && hashing > 0)
            {
                result.Metrics[$"mrr_at_10_ratio_{VectorQualitySystem.Key(preset.Name)}_vs_hashing"] = ours / hashing;
            }

            // An int8 preset against its fp32 one (the same name without -int8), exact path: negative is a loss.
            if (preset.Weights == LocalModelWeights.Int8
                && LocalModels.Find(preset.Name[..^"-int8".Length]) is { } exactPreset
                && mrr.TryGetValue((preset.Name, VectorQualitySystem.Exact), out var int8Mrr)
                && mrr.TryGetValue((exactPreset.Name, VectorQualitySystem.Exact), out var fp32Mrr))
            {
                var name = VectorQualitySystem.Key(preset.Name);
                result.Metrics[$"mrr_at_10_delta_{name}_vs_fp32"] = int8Mrr - fp32Mrr;
                result.Metrics[$"recall_at_10_delta_{name}_vs_fp32"] = recall[(preset.Name, VectorQualitySystem.Exact)] - recall[(exactPreset.Name, VectorQualitySystem.Exact)];
            }
        }

        result.Notes["load_average_end"] = Local.LocalScenario.LoadAverage();
        return result;
    }

    private static int IndexOf(IReadOnlyList<string> ids, string id)
    {
        for (var i = 0; i < ids.Count; i++)
        {
            if (ids[i] == id)
            {
                return i;
            }
        }

        return -1;
    }

    private static string F(double value) => value.ToString("0.000", CultureInfo.InvariantCulture);
}
