using System.CommandLine;
using EmbeddingKit.Cli.Infrastructure;

namespace EmbeddingKit.Cli.Commands;

/// <summary><c>embeddingkit retry-dead</c>: moves dead tasks back into the queue.</summary>
internal static class RetryDeadCommand
{
    public static Command Create()
    {
        var entityType = CommandOptions.EntityType(required: false);
        var command = new Command("retry-dead", "Move dead tasks back into the queue, ready now with their attempts reset (only of --model and --entity-type when given).");
        command.Options.Add(entityType);
        command.Options.Add(CommonOptions.Json);
        command.SetAction(async (parseResult, cancellationToken) =>
        {
            var settings = CliSettings.From(parseResult);
            var reporter = new Reporter(parseResult.GetValue(CommonOptions.Json));
            var type = parseResult.GetValue(entityType);
            await using var host = await CliHost.OpenAsync(settings, reporter, withModel: false, cancellationToken);
            var requeued = await host.QueueAdmin.RequeueDeadAsync(settings.Model, type, cancellationToken);
            if (reporter.Json)
            {
                JsonOutput.Write(new { requeued, model = settings.Model, entityType = type });
            }
            else
            {
                reporter.Line($"requeued {requeued:N0} dead task(s)");
            }

            return 0;
        });
        return command;
    }
}
