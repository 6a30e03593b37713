using System.CommandLine;
using System.Globalization;
using EmbeddingKit.Cli.Infrastructure;
using EmbeddingKit.Postgres.Search;

namespace EmbeddingKit.Cli.Commands;

/// <summary><c>embeddingkit tune --entity-type T --model M [--json]</c>: measures recall and latency per setting and saves the recommendation.</summary>
internal static class TuneCommand
{
    public static Command Create()
    {
        var entityType = CommandOptions.EntityType();
        var k = new Option<int>("-k", "--k") { Description = "The k of recall@k.", DefaultValueFactory = _ => 10 };
        var sample = new Option<int>("--sample") { Description = "Stored vectors used as queries.", DefaultValueFactory = _ => 100 };
        var target = new Option<double>("--target-recall") { Description = "The recall@k the recommendation must reach.", DefaultValueFactory = _ => 0.95 };
        var confidence = new Option<double>("--confidence") { Description = "How sure the recommendation must be that new queries reach the target: the lower confidence bound of a setting's mean recall over the sample must reach it (0.5 compares the mean itself).", DefaultValueFactory = _ => 0.95 };
        var noSave = new Option<bool>("--no-save") { Description = "Do not save the recommendation as the model's search setting." };
        var queries = new Option<string?>("--queries") { Description = "Tune hybrid search instead: labelled queries, one JSON object per line ({\"query\": \"...\", \"relevant\": [\"id\", ...]}); measures MRR@k per fusion setting (RRF k, lexical weight, candidate depth) and saves the best within the latency budget for the entity type." };
        var budget = new Option<double?>("--latency-budget-ms") { Description = "With --queries: the p50 a recommended fusion setting may take (default 1.5x the vector search p50 measured in the same run)." };
        var command = new Command("tune", "Measure recall@k and latency of two-stage search per oversample factor and of HNSW per ef_search against exact search on the live table, recommend the cheapest setting reaching the target, and save it for the model.");
        command.Options.Add(entityType);
        command.Options.Add(k);
        command.Options.Add(sample);
        command.Options.Add(target);
        command.Options.Add(confidence);
        command.Options.Add(noSave);
        command.Options.Add(queries);
        command.Options.Add(budget);
        command.Options.Add(CommonOptions.Json);
        command.SetAction(async (parseResult, cancellationToken) =>
        {
            var settings = CliSettings.From(parseResult);
            var reporter = new Reporter(parseResult.GetValue(CommonOptions.Json));
            var type = CommandOptions.CheckEntityType(parseResult.GetValue(entityType));
            var options = new SearchTunerOptions
            {
                EntityType = type,
                K = parseResult.GetValue(k),
                SampleSize = parseResult.GetValue(sample),
                TargetRecall = parseResult.GetValue(target),
                Confidence = parseResult.GetValue(confidence),
            };
            try
            {
                options.Validate();
            }
            catch (ArgumentOutOfRangeException e)
            {
                throw new CliException($"invalid tuning option: {e.Message.Split(" (Parameter", 2)[0]}", 2);
            }

            var labelled = parseResult.GetValue(queries) is { } file ? await FusionTuning.ReadQueriesAsync(file, cancellationToken) : null;
            await using var host = await CliHost.OpenAsync(settings, reporter, withModel: true, cancellationToken);
            var model = host.Model.Name;
            var stored = await host.Storage.CountAsync(type, model, cancellationToken);
            if (stored == 0)
            {
                throw new CliException($"unknown model '{model}' for {type}: no vectors of it are stored (run work --until-idle first)", 2);
            }

            if (labelled is not null)
            {
                return await FusionTuning.RunAsync(host, reporter, type, labelled, options.K, parseResult.GetValue(budget), !parseResult.GetValue(noSave), cancellationToken);
            }

            reporter.Line($"tuning {model} on {stored:N0} {type} vectors ({options.SampleSize} queries, recall@{options.K} target {options.TargetRecall:0.###} with {options.Confidence:0.###} confidence)");
            var save = !parseResult.GetValue(noSave);
            var result = await SearchTuning.TuneAsync(host, host.Table!, model, options, save, cancellationToken);
            var recommendation = result.Recommendation;

            if (reporter.Json)
            {
                JsonOutput.Write(new
                {
                    entityType = type,
                    model,
                    k = result.K,
                    targetRecall = result.TargetRecall,
                    confidence = options.Confidence,
                    sampleSize = result.SampleSize,
                    exactP50Milliseconds = Math.Round(result.ExactP50Milliseconds, 3),
                    rows = result.Rows.Select(r => new
                    {
                        path = PathName(r.Path),
                        oversample = r.Oversample,
                        efSearch = r.EfSearch,
                        recallAtK = Math.Round(r.RecallAtK, 4),
                        recallLowerBound = Math.Round(r.RecallLowerBound, 4),
                        p50Milliseconds = Math.Round(r.P50Milliseconds, 3),
                        p99Milliseconds = Math.Round(r.P99Milliseconds, 3),
                    }),
                    recommendation = new
                    {
                        path = PathName(recommendation.Path),
                        oversample = recommendation.Oversample,
                        efSearch = recommendation.EfSearch,
                        recallAtK = Math.Round(recommendation.RecallAtK, 4),
                        meetsTarget = recommendation.MeetsTarget,
                        reason = recommendation.Reason,
                    },
                    saved = save,
                });
                return 0;
            }

            reporter.Line(string.Create(CultureInfo.InvariantCulture, $"  exact search p50 {result.ExactP50Milliseconds:0.00} ms ({result.SampleSize} queries)"));
            reporter.Line($"  {"path",-10} {"oversample",10} {"ef_search",10} {"recall@" + result.K.ToString(CultureInfo.InvariantCulture),10} {"at least",10} {"p50 ms",8} {"p99 ms",8}");
            foreach (var row in result.Rows)
            {
                reporter.Line(string.Create(CultureInfo.InvariantCulture,
                    $"  {PathName(row.Path),-10} {(row.Path == SearchPath.TwoStage ? row.Oversample.ToString(CultureInfo.InvariantCulture) : "-"),10} {row.EfSearch,10} {row.RecallAtK,10:0.000} {row.RecallLowerBound,10:0.000} {row.P50Milliseconds,8:0.00} {row.P99Milliseconds,8:0.00}"));
            }

            reporter.Line($"recommended: {PathName(recommendation.Path)}, oversample {recommendation.Oversample}, ef_search {recommendation.EfSearch}: {recommendation.Reason}");
            reporter.Line(save ? $"saved as the search setting of {model}" : "not saved (--no-save)");
            return 0;
        });
        return command;
    }

    public static string PathName(SearchPath path) => path switch
    {
        SearchPath.Hnsw => "hnsw",
        SearchPath.Exact => "exact",
        _ => "two-stage",
    };
}
