using System.CommandLine;
using EmbeddingKit.Cli.Commands;
using EmbeddingKit.Cli.Infrastructure;

namespace EmbeddingKit.Cli;

/// <summary>The embeddingkit command tree and its error handling.</summary>
internal static class CliApplication
{
    public static RootCommand BuildRootCommand()
    {
        var root = new RootCommand("EmbeddingKit: generate, keep fresh and search embeddings of your data in PostgreSQL.");
        CommonOptions.AddTo(root);
        root.Subcommands.Add(DemoCommand.Create());
        root.Subcommands.Add(MigrateCommand.Create());
        root.Subcommands.Add(IngestCommand.Create());
        root.Subcommands.Add(DeleteCommand.Create());
        root.Subcommands.Add(EnqueueCommand.Create());
        root.Subcommands.Add(WorkCommand.Create());
        root.Subcommands.Add(StatusCommand.Create());
        root.Subcommands.Add(SearchCommand.Create());
        root.Subcommands.Add(TuneCommand.Create());
        root.Subcommands.Add(ModelsCommand.Create());
        root.Subcommands.Add(EmbedCommand.Create());
        root.Subcommands.Add(ProvidersCommand.Create());
        root.Subcommands.Add(RetryDeadCommand.Create());
        root.Subcommands.Add(PruneCommand.Create());
        return root;
    }

    public static async Task<int> RunAsync(string[] args)
    {
        var root = BuildRootCommand();
        var parseResult = root.Parse(args);
        if (parseResult.Errors.Count > 0)
        {
            // Bad usage: one line, not the whole help text (which --help prints).
            var command = string.Join(' ', parseResult.CommandResult.Command is RootCommand ? [] : [parseResult.CommandResult.Command.Name]);
            var messages = string.Join(" ", parseResult.Errors.Select(e => e.Message.ReplaceLineEndings(" ").Trim()).Distinct(StringComparer.Ordinal));
            Console.Error.WriteLine($"error: {messages} (see embeddingkit {command}{(command.Length > 0 ? " " : "")}--help)");
            return 2;
        }

        using var cancellation = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) =>
        {
            // First Ctrl-C: stop gracefully (claimed work is finished or released). Second: the runtime's default.
            if (!cancellation.IsCancellationRequested)
            {
                e.Cancel = true;
                cancellation.Cancel();
            }
        };
        using var sigterm = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, context =>
        {
            context.Cancel = true;
            cancellation.Cancel();
        });

        try
        {
            return await parseResult.InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false }, cancellation.Token);
        }
        catch (CliException e)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            if (parseResult.GetValue(CommonOptions.Verbose) && e.InnerException is not null)
            {
                Console.Error.WriteLine(e.InnerException);
            }

            return e.ExitCode;
        }
        catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
        {
            Console.Error.WriteLine("cancelled");
            return 130;
        }
        catch (Exception e)
        {
            Console.Error.WriteLine($"error: {e.GetType().Name}: {CliSettings.OneLine(e)}");
            if (parseResult.GetValue(CommonOptions.Verbose))
            {
                Console.Error.WriteLine(e);
            }

            return 1;
        }
    }
}
