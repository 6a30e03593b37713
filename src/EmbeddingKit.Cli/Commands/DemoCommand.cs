using System.CommandLine;
using System.Diagnostics;
using EmbeddingKit.Cli.Infrastructure;
using EmbeddingKit.Postgres.Migrations;
using EmbeddingKit.Postgres.Tasks;
using EmbeddingKit.Tasks;

namespace EmbeddingKit.Cli.Commands;

/// <summary><c>embeddingkit demo</c>: the offline end-to-end run a newcomer starts with.</summary>
internal static class DemoCommand
{
    public static Command Create()
    {
        var command = new Command("demo", "Offline end to end: start a local PostgreSQL with pgvector, migrate, enqueue, process and report.");
        command.SetAction(async (parseResult, cancellationToken) =>
        {
            var settings = CliSettings.From(parseResult);
            var total = Stopwatch.StartNew();
            Step("1/4", "starting PostgreSQL with pgvector (provisioned on first run)");
            await using var dataSource = await settings.OpenDataSourceAsync(line => Console.Out.WriteLine($"      {line}"), cancellationToken);

            Step("2/4", $"applying migrations to schema {settings.Schema}");
            var applied = await EmbeddingKitMigrations.ApplyAsync(dataSource, settings.Schema, cancellationToken);
            Console.Out.WriteLine($"      {(applied.Count == 0 ? "already up to date" : $"applied {string.Join(", ", applied)}")}");

            const int count = 10_000;
            const string model = "demo-queue";
            var queue = new PostgresEmbeddingTaskQueue(dataSource, settings.Schema);
            Step("3/4", $"enqueueing {count:N0} tasks in batches of 1,000");
            var watch = Stopwatch.StartNew();
            for (var start = 0; start < count; start += 1_000)
            {
                var batch = Enumerable.Range(start, 1_000).Select(i => new EnqueueRequest("demo", i.ToString(System.Globalization.CultureInfo.InvariantCulture), model)).ToList();
                await queue.EnqueueAsync(batch, cancellationToken);
            }

            Console.Out.WriteLine($"      {count / watch.Elapsed.TotalSeconds:N0} tasks/s");

            Step("4/4", "fetching and completing in batches of 100");
            watch.Restart();
            var done = 0;
            while (true)
            {
                var tasks = await queue.FetchReadyAsync(new FetchRequest([model], 100, "demo", TimeSpan.FromMinutes(1)), cancellationToken);
                if (tasks.Count == 0)
                {
                    break;
                }

                done += (await queue.CompleteAsync(tasks, cancellationToken)).Completed.Count;
            }

            Console.Out.WriteLine($"      completed {done:N0} tasks, {done / watch.Elapsed.TotalSeconds:N0} tasks/s; outstanding now {await queue.CountOutstandingAsync([model], cancellationToken)}");
            Console.Out.WriteLine($"demo finished in {total.Elapsed.TotalSeconds:N1} s");
            return 0;
        });
        return command;
    }

    private static void Step(string number, string text) => Console.Out.WriteLine($"[{number}] {text}");
}
