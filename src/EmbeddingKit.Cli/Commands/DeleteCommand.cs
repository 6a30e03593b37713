using System.CommandLine;
using EmbeddingKit.Cli.Infrastructure;

namespace EmbeddingKit.Cli.Commands;

/// <summary><c>embeddingkit delete ID... --entity-type T</c>: deletes documents and, through the queue, their vectors.</summary>
internal static class DeleteCommand
{
    public static Command Create()
    {
        var ids = new Argument<string[]>("ids") { Description = "The ids of the documents to delete.", Arity = ArgumentArity.OneOrMore };
        var entityType = CommandOptions.EntityType();
        var command = new Command(
            "delete",
            "Delete documents and, through the queue, their vectors of every model (a worker finds them gone and deletes the vectors); one transaction. Unknown ids are reported, not errors.");
        command.Arguments.Add(ids);
        command.Options.Add(entityType);
        command.Options.Add(CommonOptions.Json);
        command.SetAction(async (parseResult, cancellationToken) =>
        {
            var settings = CliSettings.From(parseResult);
            var reporter = new Reporter(parseResult.GetValue(CommonOptions.Json));
            var type = CommandOptions.CheckEntityType(parseResult.GetValue(entityType));
            var requested = parseResult.GetValue(ids)!;
            await using var host = await CliHost.OpenAsync(settings, reporter, withModel: false, cancellationToken);
            await using var connection = await host.DataSource.OpenConnectionAsync(cancellationToken);
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
            var result = await DocumentDeletion.DeleteAsync(host, connection, transaction, type, requested, cancellationToken);
            await transaction.CommitAsync(cancellationToken);
            if (reporter.Json)
            {
                JsonOutput.Write(new { entityType = type, deleted = result.Deleted, unknown = result.Unknown, enqueued = result.Enqueued, models = result.Models });
            }
            else
            {
                reporter.Line($"deleted {result.Deleted.Count:N0} document(s); {result.Enqueued:N0} task(s) enqueued to delete their vectors ({string.Join(", ", result.Models)})");
                foreach (var id in result.Unknown)
                {
                    reporter.Line($"unknown: {type} '{id}' (no such document)");
                }
            }

            return 0;
        });
        return command;
    }
}
