using System.Globalization;
using System.Text.Json;
using EmbeddingKit.Cli.Infrastructure;
using EmbeddingKit.Postgres.Search;
using EmbeddingKit.Runtime;

namespace EmbeddingKit.Cli.Commands;

/// <summary><c>tune --queries file.jsonl</c>: the fusion settings of hybrid search, tuned on labelled queries.</summary>
internal static class FusionTuning
{
    /// <summary>Reads labelled queries, one JSON object per line: <c>{"query": "…", "relevant": ["id", …]}</c>; blank
    /// lines are skipped.</summary>
    public static async Task<IReadOnlyList<LabelledQuery>> ReadQueriesAsync(string path, CancellationToken cancellationToken)
    {
        if (!File.Exists(path))
        {
            throw new CliException($"--queries: no such file: {path}", 2);
        }

        var queries = new List<LabelledQuery>();
        var number = 0;
        foreach (var line in await File.ReadAllLinesAsync(path, cancellationToken))
        {
            number++;
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }

            try
            {
                using var json = JsonDocument.Parse(line);
                var root = json.RootElement;
                if (root.ValueKind != JsonValueKind.Object
                    || !root.TryGetProperty("query", out var query) || query.ValueKind != JsonValueKind.String || string.IsNullOrWhiteSpace(query.GetString())
                    || !root.TryGetProperty("relevant", out var relevant) || relevant.ValueKind != JsonValueKind.Array)
                {
                    throw new CliException($"--queries {path}:{number}: expected {{\"query\": \"text\", \"relevant\": [\"id\", ...]}}", 2);
                }

                var ids = relevant.EnumerateArray().Select(e => e.ValueKind switch
                {
                    JsonValueKind.String => e.GetString()!,
                    JsonValueKind.Number => e.GetRawText(),
                    _ => throw new CliException($"--queries {path}:{number}: relevant ids must be strings or numbers", 2),
                }).ToList();
                if (ids.Count == 0)
                {
                    throw new CliException($"--queries {path}:{number}: no relevant ids", 2);
                }

                queries.Add(new LabelledQuery(query.GetString()!, ids));
            }
            catch (JsonException e)
            {
                throw new CliException($"--queries {path}:{number}: not JSON ({e.Message.Split(" Path:", 2)[0]})", 2);
            }
        }

        return queries.Count > 0 ? queries : throw new CliException($"--queries {path}: no queries in the file", 2);
    }

    public static async Task<int> RunAsync(CliHost host, Reporter reporter, string type, IReadOnlyList<LabelledQuery> queries, int k, double? budgetMilliseconds, bool save, CancellationToken cancellationToken)
    {
        var model = host.Model.Name;
        if (host.Storage.LexicalSchema is not { } schema)
        {
            throw new CliException("hybrid tuning needs the lexical index, which this storage does not keep", 2);
        }

        var lexical = new LexicalIndex(host.DataSource, schema);
        if (await lexical.CountAsync(type, cancellationToken) == 0)
        {
            throw new CliException($"the lexical index holds no {type} document yet (run work --until-idle first)", 2);
        }

        reporter.Line($"tuning hybrid search of {type} ({model} fused with the lexical index) on {queries.Count} labelled queries, MRR@{k}");
        var tuner = new HybridTuner(new PgvectorSearch(host.DataSource), new QueryEmbedder(host.Registry), host.Rollout.SearchModels, lexical);
        var options = new HybridTunerOptions
        {
            EntityType = type,
            K = k,
            LatencyBudget = budgetMilliseconds is { } ms ? TimeSpan.FromMilliseconds(ms) : null,
        };
        try
        {
            options.Validate();
        }
        catch (ArgumentException e)
        {
            throw new CliException($"invalid tuning option: {e.Message.Split(" (Parameter", 2)[0]}", 2);
        }

        var result = await tuner.TuneAsync(host.Table!, model, queries, options, cancellationToken);
        if (save)
        {
            await tuner.SaveAsync(result, cancellationToken);
        }

        if (reporter.Json)
        {
            JsonOutput.Write(new
            {
                entityType = type,
                model,
                k = result.K,
                queries = result.QueryCount,
                latencyBudgetMilliseconds = Math.Round(result.LatencyBudgetMilliseconds, 3),
                vector = Row(result.Vector),
                lexical = Row(result.Lexical),
                rows = result.Rows.Select(Row),
                recommendation = new
                {
                    fusion = result.Recommendation.Fusion,
                    rrfK = result.Recommendation.RrfK,
                    vectorWeight = result.Recommendation.VectorWeight,
                    lexicalWeight = result.Recommendation.LexicalWeight,
                    vectorDepth = result.Recommendation.VectorDepth,
                    lexicalDepth = result.Recommendation.LexicalDepth,
                    mrrAtK = Math.Round(result.Recommendation.Mrr ?? 0, 4),
                    withinBudget = result.WithinBudget,
                    reason = result.Reason,
                },
                saved = save,
            });
            return 0;
        }

        reporter.Line($"  {"search",-8} {"fusion",-9} {"rrf k",6} {"lex w",6} {"depth",6} {"MRR@" + k.ToString(CultureInfo.InvariantCulture),8} {"recall",8} {"p50 ms",8} {"p99 ms",8}");
        foreach (var row in new[] { result.Vector, result.Lexical }.Concat(result.Rows))
        {
            var s = row.Settings;
            reporter.Line(string.Create(CultureInfo.InvariantCulture,
                $"  {row.Name,-8} {(s is null ? "-" : FusionLabel(s.Fusion)),-9} {(s is null || s.Fusion != HybridFusion.ReciprocalRank ? "-" : s.RrfK.ToString(CultureInfo.InvariantCulture)),6} {(s is null ? "-" : s.LexicalWeight.ToString("0.##", CultureInfo.InvariantCulture)),6} {(s is null ? "-" : s.VectorDepth.ToString(CultureInfo.InvariantCulture)),6} {row.MrrAtK,8:0.000} {row.RecallAtK,8:0.000} {row.P50Milliseconds,8:0.00} {row.P99Milliseconds,8:0.00}"));
        }

        var r = result.Recommendation;
        var fusion = r.Fusion == HybridFusion.ReciprocalRank ? string.Create(CultureInfo.InvariantCulture, $"reciprocal rank fusion, rrf k {r.RrfK}") : "relative score fusion";
        reporter.Line(string.Create(CultureInfo.InvariantCulture, $"recommended: {fusion}, lexical weight {r.LexicalWeight:0.##}, depth {r.VectorDepth}: {result.Reason}"));
        reporter.Line(save ? $"saved as the fusion setting of {type}" : "not saved (--no-save)");
        return 0;
    }

    private static string FusionLabel(HybridFusion fusion) => fusion == HybridFusion.ReciprocalRank ? "rrf" : "relative";

    private static object Row(HybridTuningRow row) => new
    {
        search = row.Name,
        fusion = row.Settings?.Fusion,
        rrfK = row.Settings?.RrfK,
        vectorWeight = row.Settings?.VectorWeight,
        lexicalWeight = row.Settings?.LexicalWeight,
        vectorDepth = row.Settings?.VectorDepth,
        lexicalDepth = row.Settings?.LexicalDepth,
        mrrAtK = Math.Round(row.MrrAtK, 4),
        recallAtK = Math.Round(row.RecallAtK, 4),
        p50Milliseconds = Math.Round(row.P50Milliseconds, 3),
        p99Milliseconds = Math.Round(row.P99Milliseconds, 3),
    };
}
