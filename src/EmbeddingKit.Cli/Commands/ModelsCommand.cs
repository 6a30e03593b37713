using System.CommandLine;
using System.Globalization;
using EmbeddingKit.Cli.Infrastructure;
using EmbeddingKit.Postgres.Rollout;
using EmbeddingKit.Postgres.Search;
using EmbeddingKit.Postgres.Storage;

namespace EmbeddingKit.Cli.Commands;

/// <summary><c>embeddingkit models activate M --entity-type T [--force] [--no-tune]</c>: the rollout switch with the
/// coverage check, then a quick tune of the model's search saved as its setting;
/// <c>embeddingkit models retire M [--force]</c>: deletes a model's vectors, tasks and indexes;
/// <c>embeddingkit models index M</c>: builds (or repairs) a model's indexes, explicitly.</summary>
internal static class ModelsCommand
{
    public static Command Create()
    {
        var command = new Command("models", "Model rollout: switch the active search model of an entity type; build a model's indexes; retire a model.");
        command.Subcommands.Add(CreateActivate());
        command.Subcommands.Add(CreateIndex());
        command.Subcommands.Add(CreateRetire());
        return command;
    }

    private static Command CreateIndex()
    {
        var model = new Argument<string>("model") { Description = "The model whose indexes to build." };
        var command = new Command("index", "Build the model's HNSW and binary-quantized partial indexes where missing (CREATE INDEX CONCURRENTLY: writes and searches go on), and rebuild any left INVALID by an interrupted build. Reports each index's state and size.");
        command.Arguments.Add(model);
        command.Options.Add(CommonOptions.Json);
        command.SetAction(async (parseResult, cancellationToken) =>
        {
            var settings = CliSettings.From(parseResult);
            var reporter = new Reporter(parseResult.GetValue(CommonOptions.Json));
            var name = parseResult.GetValue(model)!;
            await using var host = await CliHost.OpenAsync(settings, reporter, withModel: false, cancellationToken);
            var (known, _) = await KnownDimensionsAsync(host, name, cancellationToken);
            var dimensions = known ?? throw new CliException($"unknown model '{name}': no vectors of it are stored in schema {host.Schema} (pass --model {name} --dimensions N to index an empty one)", 2);
            var table = host.TableFor(dimensions);
            var manager = new EmbeddingIndexManager(host.DataSource, null, host.Time);
            await manager.EnsureTableAsync(table, cancellationToken);
            var before = await manager.GetIndexStatusAsync(table, name, cancellationToken);
            var watch = System.Diagnostics.Stopwatch.StartNew();
            var after = await ModelIndexes.EnsureAsync(host.DataSource, table, name, host.Time, cancellationToken);
            var indexes = after.Select(a =>
            {
                var was = before.Single(b => b.Name == a.Name);
                var action = !was.Exists ? "built" : !was.IsValid ? "rebuilt" : "kept";
                return new { name = a.Name, kind = a.Kind == EmbeddingIndexKind.Hnsw ? "hnsw" : "binary_quantized", action, valid = a.IsValid, sizeBytes = a.SizeBytes };
            }).ToList();
            if (reporter.Json)
            {
                JsonOutput.Write(new { model = name, table = table.QualifiedName, indexes, seconds = Math.Round(watch.Elapsed.TotalSeconds, 2) });
            }
            else
            {
                foreach (var index in indexes)
                {
                    reporter.Line(string.Create(CultureInfo.InvariantCulture, $"{index.name}: {index.action}, {(index.valid ? "valid" : "INVALID")}, {index.sizeBytes / 1024.0 / 1024.0:0.0} MB"));
                }

                reporter.Line($"indexes of {name} ready in {Reporter.Seconds(watch.Elapsed)}");
            }

            return indexes.All(i => i.valid) ? 0 : 1;
        });
        return command;
    }

    private static Command CreateRetire()
    {
        var model = new Argument<string>("model") { Description = "The model to retire." };
        var force = new Option<bool>("--force") { Description = "Retire it even while it is the active search model of an entity type." };
        var command = new Command("retire", "Delete a model's stored vectors, tasks (dead ones included) and indexes. Refused (exit 5) while it is an active search model, unless --force. Nothing is deleted for a model until this is run.");
        command.Arguments.Add(model);
        command.Options.Add(force);
        command.Options.Add(CommonOptions.Json);
        command.SetAction(async (parseResult, cancellationToken) =>
        {
            var settings = CliSettings.From(parseResult);
            var reporter = new Reporter(parseResult.GetValue(CommonOptions.Json));
            var name = parseResult.GetValue(model)!;
            await using var host = await CliHost.OpenAsync(settings, reporter, withModel: false, cancellationToken);
            var (known, _) = await KnownDimensionsAsync(host, name, cancellationToken);
            if (known is null && await host.QueueAdmin.CountOutstandingAsync([name], cancellationToken) == 0)
            {
                throw new CliException($"unknown model '{name}': nothing of it is stored or queued in schema {host.Schema}", 2);
            }

            Register(host, name, known ?? 2);
            (int Vectors, int Tasks) deleted;
            try
            {
                deleted = await host.Rollout.RetireModelAsync(name, parseResult.GetValue(force), cancellationToken);
            }
            catch (InvalidOperationException e)
            {
                throw new CliException(CliSettings.OneLine(e), 5);
            }

            var dropped = new List<string>();
            var manager = new EmbeddingIndexManager(host.DataSource, null, host.Time);
            if (known is int dimensions)
            {
                var table = host.TableFor(dimensions);
                var before = await manager.GetIndexStatusAsync(table, name, cancellationToken);
                await manager.DropModelIndexesAsync(table, name, cancellationToken);
                dropped.AddRange(before.Where(i => i.Exists).Select(i => i.Name));
            }

            if (reporter.Json)
            {
                JsonOutput.Write(new { model = name, vectorsDeleted = deleted.Vectors, tasksDeleted = deleted.Tasks, indexesDropped = dropped });
            }
            else
            {
                reporter.Line(string.Create(CultureInfo.InvariantCulture,
                    $"retired {name}: {deleted.Vectors:N0} vectors and {deleted.Tasks:N0} tasks deleted, {dropped.Count} index(es) dropped"));
            }

            return 0;
        });
        return command;
    }

    private static Command CreateActivate()
    {
        var model = new Argument<string>("model") { Description = "The model to make active." };
        var entityType = CommandOptions.EntityType();
        var force = new Option<bool>("--force") { Description = "Switch even below the coverage threshold (search falls back to the previous model for uncovered entities)." };
        var minCoverage = new Option<double>("--min-coverage") { Description = "Stored / documents required to switch, 0 to 1.", DefaultValueFactory = _ => 1.0 };
        var noTune = new Option<bool>("--no-tune") { Description = "Do not run the quick tune (recall and latency per setting on a sample of the model's vectors) nor save its recommendation as the model's search setting." };
        var command = new Command("activate", "Make a model the active search model of an entity type; refused (exit 5) while its coverage is below --min-coverage, unless --force. The current model becomes the fallback. Then builds the model's indexes and, unless --no-tune, tunes its search on a sample of its vectors and saves the recommended setting.");
        command.Arguments.Add(model);
        command.Options.Add(entityType);
        command.Options.Add(force);
        command.Options.Add(minCoverage);
        command.Options.Add(noTune);
        command.Options.Add(CommonOptions.Json);
        command.SetAction(async (parseResult, cancellationToken) =>
        {
            var settings = CliSettings.From(parseResult);
            var reporter = new Reporter(parseResult.GetValue(CommonOptions.Json));
            var type = CommandOptions.CheckEntityType(parseResult.GetValue(entityType));
            var name = parseResult.GetValue(model)!;
            var threshold = parseResult.GetValue(minCoverage);
            if (threshold is < 0 or > 1 || double.IsNaN(threshold))
            {
                throw new CliException("--min-coverage must be between 0 and 1", 2);
            }

            await using var host = await CliHost.OpenAsync(settings, reporter, withModel: false, cancellationToken);
            var (known, stored) = await KnownDimensionsAsync(host, name, cancellationToken);
            var dimensions = known
                ?? throw new CliException($"unknown model '{name}': no vectors of it are stored in schema {host.Schema} (known: {string.Join(", ", stored.Select(g => g.Model).Distinct(StringComparer.Ordinal).DefaultIfEmpty("none"))})", 2);

            // Coverage counts rows of the model's table.
            Register(host, name, dimensions);
            var total = (await host.Documents.CountByEntityTypeAsync(cancellationToken)).GetValueOrDefault(type);
            ActiveModel active;
            try
            {
                active = await host.Rollout.ActivateAsync(type, name, total, threshold, parseResult.GetValue(force), cancellationToken);
            }
            catch (CoverageTooLowException e)
            {
                throw new CliException(CliSettings.OneLine(e), 5);
            }

            // Search answers from the model's partial indexes: make sure they exist. Then a quick tune, so that the model
            // never searches with settings that ignore its data (the default path depends only on the dimensions).
            var table = host.TableFor(dimensions);
            await ModelIndexes.EnsureAsync(host.DataSource, table, name, host.Time, cancellationToken);
            var tuned = parseResult.GetValue(noTune) || await host.Storage.CountAsync(type, name, cancellationToken) == 0
                ? null
                : (await SearchTuning.TuneAsync(host, table, name, new SearchTunerOptions { EntityType = type, SampleSize = SearchTuning.QuickSampleSize }, save: true, cancellationToken)).Recommendation;
            if (reporter.Json)
            {
                JsonOutput.Write(new
                {
                    entityType = active.EntityType,
                    model = active.Model,
                    previousModel = active.PreviousModel,
                    coverage = active.Coverage is { } c ? Math.Round(c, 4) : (double?)null,
                    forced = active.Forced,
                    switchedAt = active.SwitchedAt,
                    searchSettings = tuned is null ? null : new
                    {
                        path = TuneCommand.PathName(tuned.Path),
                        oversample = tuned.Oversample,
                        efSearch = tuned.EfSearch,
                        recallAtK = Math.Round(tuned.RecallAtK, 4),
                        meetsTarget = tuned.MeetsTarget,
                    },
                });
            }
            else
            {
                reporter.Line(string.Create(CultureInfo.InvariantCulture,
                    $"{name} is now the active model of {type} (coverage {active.Coverage:P1}{(active.Forced ? ", forced" : "")}); previous: {active.PreviousModel ?? "none"}"));
                reporter.Line(tuned is null
                    ? "search settings not tuned (--no-tune, or no vectors yet): run embeddingkit tune"
                    : string.Create(CultureInfo.InvariantCulture, $"search settings tuned on {SearchTuning.QuickSampleSize} queries and saved: {TuneCommand.PathName(tuned.Path)}, oversample {tuned.Oversample}, ef_search {tuned.EfSearch} (recall@10 {tuned.RecallAtK:0.###})"));
            }

            return 0;
        });
        return command;
    }

    /// <summary>A model's dimensions: from its stored vectors, its name (<c>hashing-N</c>, a local preset), or <c>--model</c> with
    /// <c>--dimensions</c>; null when nothing says. Also returns what is stored, for messages.</summary>
    private static async Task<(int? Dimensions, List<StoredVectors.Group> Stored)> KnownDimensionsAsync(CliHost host, string name, CancellationToken cancellationToken)
    {
        var stored = await StoredVectors.CountAsync(host.DataSource, host.Schema, cancellationToken);
        var dimensions = stored.FirstOrDefault(g => g.Model == name)?.Dimensions
            ?? ModelSetup.KnownDimensions(name)
            ?? (host.Settings.Model == name ? host.Settings.Dimensions : null);
        return (dimensions, stored);
    }

    /// <summary>Makes a model known to the host's storage, which finds a model's table through the registry (nothing
    /// is embedded with it here).</summary>
    private static void Register(CliHost host, string name, int dimensions) =>
        host.Registry.Add(new EmbeddingKit.Runtime.EmbeddingModel(name, dimensions, new EmbeddingKit.Embedders.HashingEmbeddingGenerator(Math.Max(2, dimensions))));
}
