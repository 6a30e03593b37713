using System.CommandLine;
using System.Globalization;
using System.Diagnostics;
using EmbeddingKit.Cli.Infrastructure;
using EmbeddingKit.Postgres.Rollout;
using EmbeddingKit.Postgres.Search;

namespace EmbeddingKit.Cli.Commands;

/// <summary><c>embeddingkit demo</c>: the offline end-to-end run a newcomer starts with.</summary>
internal static class DemoCommand
{
    public const string EntityType = "debian-package";

    /// <summary>The default sample with the hashing embedder or a remote provider.</summary>
    public const int DefaultLimit = 25_000;

    /// <summary>The default sample with the local model (the default provider): keeps a first run on a 2-core machine
    /// near a minute (measured, see docs/benchmarks.md, <c>local</c>).</summary>
    public const int DefaultLocalLimit = 2_000;

    private static readonly string[] DefaultQueries = ["postgresql database server", "image editing", "python web framework"];

    public static Command Create()
    {
        var limit = new Option<int?>("--limit")
        {
            Description = "Packages to ingest: installed ones, then applications and tools, sampled evenly (default 2,000 with the local model, 25,000 with --provider hashing or a remote provider; 0 for all, about 63,000 on Debian bookworm).",
        };
        var queries = new Option<string[]>("--query") { Description = "A search to run at the end (repeatable).", AllowMultipleArgumentsPerToken = false };
        var command = new Command(
            "demo",
            "Offline end to end: start (or reuse) a local PostgreSQL with pgvector, migrate, ingest the descriptions of the Debian packages this machine knows, embed them with live progress (the local retrieval model arctic-embed-xs unless --provider or --base-url say otherwise; --provider hashing is the fastest), build the indexes and search.");
        command.Options.Add(limit);
        command.Options.Add(queries);
        command.SetAction(async (parseResult, cancellationToken) =>
        {
            var settings = CliSettings.From(parseResult);
            var reporter = new Reporter(json: false);
            var total = Stopwatch.StartNew();
            var searches = parseResult.GetValue(queries) is { Length: > 0 } given ? given : DefaultQueries;
            var asked = parseResult.GetValue(limit);
            if (asked < 0)
            {
                throw new CliException("--limit must be 0 (all) or positive", 2);
            }

            var where = settings.Connection is null ? $"the local PostgreSQL in {LocalPostgres.DataDirectory} (provisioned on first run)" : "PostgreSQL at --connection";
            await using var host = await reporter.StepAsync("1/7", $"starting {where}, migrating schema {settings.Schema}, loading the model", () => CliHost.OpenAsync(settings, reporter, withModel: true, cancellationToken, probeDimensions: true, defaultProvider: ModelSetup.Local), _ => "ready");
            var model = host.Model;
            var sample = asked ?? (host.Setup!.Provider == ModelSetup.Local ? DefaultLocalLimit : DefaultLimit);
            var corpus = await reporter.StepAsync("2/7", "reading the descriptions of the Debian packages known to this machine (apt lists and dpkg status)", () => DebianCorpus.ReadAsync(sample == 0 ? null : sample, cancellationToken),
                c => $"{c.Documents.Count:N0} documents{(c.Documents.Count < c.Available ? $" (a sample of {c.Available:N0})" : "")} from {c.DescribeSources()}");
            if (corpus.Documents.Count == 0)
            {
                throw new CliException("no Debian package descriptions found on this machine (run apt-get update first)");
            }

            // Documents an earlier demo stored (another model or sample size) that have no vector of this model yet are
            // enqueued first, so the model reaches the full coverage that activating it needs.
            var missing = await EnqueueCommand.EnqueueAsync(host, EntityType, onlyMissing: true, batchSize: 5_000, progress: null, cancellationToken);
            if (missing > 0)
            {
                reporter.Line($"      {missing:N0} documents stored by an earlier run have no {model.Name} vector yet: enqueued");
            }

            var ingest = await reporter.StepAsync("3/7", $"ingesting into {host.Documents.QualifiedName} as {EntityType}, enqueueing the new and changed ones for {model.Name} (one transaction)",
                () => IngestCommand.WriteAsync(host, "debian packages", EntityType, corpus.Documents, cancellationToken),
                r => $"{r.Documents:N0} documents, {r.Changed:N0} new or changed, {r.Enqueued:N0} tasks enqueued");

            var summary = await reporter.StepAsync("4/7", $"embedding with {model.Name} ({host.Setup!.Provider}, {model.Dimensions} dimensions), 2 workers",
                () => new WorkerRun(host, 2, WorkCommand.DefaultBatchSize(host), TimeSpan.FromSeconds(60), untilIdle: true, reporter).RunAsync(cancellationToken),
                s => $"{s.Completed:N0} embedded, {s.Failed:N0} failed, {s.RatePerSecond:N0}/s; outstanding {s.Outstanding:N0}");
            if (summary.Interrupted)
            {
                return 130;
            }

            var table = host.Table!;
            await reporter.StepAsync("5/7", $"building the HNSW and binary-quantized indexes of {model.Name} on {table.QualifiedName} (CREATE INDEX CONCURRENTLY, skipped when present)",
                () => ModelIndexes.EnsureAsync(host.DataSource, table, model.Name, host.Time, cancellationToken),
                s => string.Join(", ", s.Select(i => $"{i.Name} {i.SizeBytes / 1024.0 / 1024.0:N1} MB{(i.IsValid ? "" : " INVALID")}")));

            await reporter.StepAsync("6/7", $"activating {model.Name} as the search model of {EntityType} (coverage check) and tuning its search on {SearchTuning.QuickSampleSize} of its vectors", async () =>
            {
                var documents = (await host.Documents.CountByEntityTypeAsync(cancellationToken)).GetValueOrDefault(EntityType);
                try
                {
                    var active = await host.Rollout.ActivateAsync(EntityType, model.Name, documents, 1.0, false, cancellationToken);
                    var tuned = (await SearchTuning.TuneAsync(host, table, model.Name, new SearchTunerOptions { EntityType = EntityType, SampleSize = SearchTuning.QuickSampleSize }, save: true, cancellationToken)).Recommendation;
                    return string.Create(CultureInfo.InvariantCulture, $"coverage {active.Coverage:P1}; search: {TuneCommand.PathName(tuned.Path)}, oversample {tuned.Oversample}, ef_search {tuned.EfSearch} (recall@10 {tuned.RecallAtK:0.###} of exact)");
                }
                catch (CoverageTooLowException e)
                {
                    return $"not activated: {e.Message}";
                }
            }, s => s);

            reporter.Line($"[7/7] searching {EntityType}");
            foreach (var query in searches)
            {
                var answer = await SearchCommand.RunAsync(host, query, EntityType, 5, null, null, cancellationToken);
                reporter.Line($"      \"{query}\" ({answer.Elapsed.TotalMilliseconds:N0} ms)");
                SearchCommand.Print(reporter, answer, indent: "      ");
            }

            // Hybrid: the same vectors fused with the full-text index the worker kept beside them (exact names and rare
            // words that vectors miss).
            if (searches.Length > 0)
            {
                var hybrid = await SearchCommand.RunAsync(host, searches[0], EntityType, 5, null, SearchPath.Hybrid, cancellationToken);
                reporter.Line($"      hybrid (vectors + full text) \"{searches[0]}\" ({hybrid.Elapsed.TotalMilliseconds:N0} ms)");
                SearchCommand.Print(reporter, hybrid, indent: "      ");
            }

            reporter.Line($"demo finished in {Reporter.Seconds(total.Elapsed)}. Try: embeddingkit search \"text editor\" --entity-type {EntityType} [--hybrid]; embeddingkit status");
            return 0;
        });
        return command;
    }
}
