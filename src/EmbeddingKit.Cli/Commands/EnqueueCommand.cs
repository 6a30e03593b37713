using System.CommandLine;
using EmbeddingKit.Cli.Infrastructure;
using EmbeddingKit.Tasks;

namespace EmbeddingKit.Cli.Commands;

/// <summary><c>embeddingkit enqueue --entity-type T --model M [--missing | --all]</c>: backfill.</summary>
internal static class EnqueueCommand
{
    public const short BackfillPriority = 10;

    public static Command Create()
    {
        var entityType = CommandOptions.EntityType();
        var missing = new Option<bool>("--missing") { Description = "Only documents without a stored vector of the model (the default)." };
        var all = new Option<bool>("--all") { Description = "Every document of the entity type (unchanged ones are skipped by content hash when processed, without a provider call)." };
        var batch = new Option<int>("--batch-size") { Description = "Tasks per enqueue round trip.", DefaultValueFactory = _ => 5_000 };
        var command = new Command("enqueue", "Backfill: enqueue embedding of the documents of an entity type for the model (--model, with the provider options), in batches, at a lower priority than fresh writes.");
        command.Options.Add(entityType);
        command.Options.Add(missing);
        command.Options.Add(all);
        command.Options.Add(batch);
        command.Options.Add(CommonOptions.Json);
        command.SetAction(async (parseResult, cancellationToken) =>
        {
            var settings = CliSettings.From(parseResult);
            var reporter = new Reporter(parseResult.GetValue(CommonOptions.Json));
            var type = CommandOptions.CheckEntityType(parseResult.GetValue(entityType));
            if (parseResult.GetValue(missing) && parseResult.GetValue(all))
            {
                throw new CliException("--missing and --all exclude each other", 2);
            }

            var batchSize = parseResult.GetValue(batch);
            if (batchSize is < 1 or > 10_000)
            {
                throw new CliException("--batch-size must be between 1 and 10000", 2);
            }

            var onlyMissing = !parseResult.GetValue(all);
            await using var host = await CliHost.OpenAsync(settings, reporter, withModel: true, cancellationToken);
            var model = host.Model.Name;
            var enqueued = await EnqueueAsync(host, type, onlyMissing, batchSize, reporter.Json ? null : n => reporter.Line($"      enqueued {n:N0} so far"), cancellationToken);

            if (reporter.Json)
            {
                JsonOutput.Write(new { entityType = type, model, mode = onlyMissing ? "missing" : "all", enqueued });
            }
            else
            {
                reporter.Line($"enqueued {enqueued:N0} {(onlyMissing ? "missing" : "")} {type} documents for {model}".Replace("  ", " ", StringComparison.Ordinal));
            }

            return 0;
        });
        return command;
    }

    /// <summary>Enqueues the documents of <paramref name="type"/> for the host's model, in id order and batches: all of
    /// them, or (<paramref name="onlyMissing"/>) those without a stored vector of the model.</summary>
    /// <returns>How many tasks were enqueued.</returns>
    public static async Task<long> EnqueueAsync(CliHost host, string type, bool onlyMissing, int batchSize, Action<long>? progress, CancellationToken cancellationToken)
    {
        var model = host.Model.Name;
        var enqueued = 0L;
        string? after = null;
        while (true)
        {
            var ids = await host.Documents.ListIdsAsync(type, after, batchSize, onlyMissing ? (host.Table!.QualifiedName, model) : null, cancellationToken);
            if (ids.Count == 0)
            {
                return enqueued;
            }

            enqueued += await host.Queue.EnqueueAsync([.. ids.Select(id => new EnqueueRequest(type, id, model) { Priority = BackfillPriority })], cancellationToken);
            after = ids[^1];
            if (ids.Count == batchSize)
            {
                progress?.Invoke(enqueued);
            }
        }
    }
}
