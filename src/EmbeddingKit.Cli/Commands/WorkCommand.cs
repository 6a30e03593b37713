using System.CommandLine;
using EmbeddingKit.Cli.Infrastructure;

namespace EmbeddingKit.Cli.Commands;

/// <summary><c>embeddingkit work [--until-idle] [--concurrency N]</c>: processes the queue for the configured model.</summary>
internal static class WorkCommand
{
    public static Command Create()
    {
        var untilIdle = new Option<bool>("--until-idle") { Description = "Exit (0) once nothing is outstanding for the model, waiting out retry backoffs and the leases of crashed workers." };
        var concurrency = new Option<int>("--concurrency") { Description = "Concurrent claim/process loops in this process.", DefaultValueFactory = _ => 2 };
        var batch = new Option<int?>("--batch-size") { Description = "Tasks claimed per loop iteration (default: provider batch x concurrent batches, 512 for hashing)." };
        var lease = new Option<int>("--lease-seconds") { Description = "Lease of claimed tasks (kept alive by a heartbeat; a crashed worker's tasks come back after it).", DefaultValueFactory = _ => 60 };
        var waitForDatabase = new Option<int>("--wait-for-database") { Description = "Seconds to keep retrying, with backoff, while PostgreSQL is not reachable at start-up (0: fail at once with exit code 3).", DefaultValueFactory = _ => 300 };
        var command = new Command("work", "Process embedding tasks of the configured model (several work processes may share one database). Ctrl-C stops gracefully: tasks in hand are released.");
        command.Options.Add(untilIdle);
        command.Options.Add(concurrency);
        command.Options.Add(batch);
        command.Options.Add(lease);
        command.Options.Add(waitForDatabase);
        command.Options.Add(CommonOptions.Json);
        command.SetAction(async (parseResult, cancellationToken) =>
        {
            var settings = CliSettings.From(parseResult);
            var reporter = new Reporter(parseResult.GetValue(CommonOptions.Json));
            var loops = parseResult.GetValue(concurrency);
            if (loops is < 1 or > 64)
            {
                throw new CliException("--concurrency must be between 1 and 64", 2);
            }

            var leaseSeconds = parseResult.GetValue(lease);
            if (leaseSeconds is < 3 or > 3600)
            {
                throw new CliException("--lease-seconds must be between 3 and 3600", 2);
            }

            var waitSeconds = parseResult.GetValue(waitForDatabase);
            if (waitSeconds is < 0 or > 86_400)
            {
                throw new CliException("--wait-for-database must be between 0 and 86400 seconds", 2);
            }

            settings.WaitForDatabase = TimeSpan.FromSeconds(waitSeconds);
            await using var host = await CliHost.OpenAsync(settings, reporter, withModel: true, cancellationToken);
            var batchSize = parseResult.GetValue(batch) ?? DefaultBatchSize(host);
            if (batchSize is < 1 or > 10_000)
            {
                throw new CliException("--batch-size must be between 1 and 10000", 2);
            }

            var idle = parseResult.GetValue(untilIdle);
            if (!idle)
            {
                // Safe to run again: a connection cut while it builds leaves an invalid index, which the next try rebuilds.
                await settings.CreateDatabaseWait("PostgreSQL", line => reporter.Line("      " + line)).ExecuteAsync(
                    static async (h, token) => await ModelIndexes.EnsureAsync(h.DataSource, h.Table!, h.Model.Name, h.Time, token), host, cancellationToken);
            }

            reporter.Line($"working on {host.Model.Name} ({host.Setup!.Provider}, {host.Model.Dimensions} dimensions) with {loops} loop(s) of {batchSize} tasks{(idle ? " until idle" : "; Ctrl-C to stop")}");
            var summary = await new WorkerRun(host, loops, batchSize, TimeSpan.FromSeconds(leaseSeconds), idle, reporter).RunAsync(cancellationToken);
            if (idle && !summary.Interrupted)
            {
                await ModelIndexes.EnsureAsync(host.DataSource, host.Table!, host.Model.Name, host.Time, cancellationToken);
            }

            Print(reporter, summary);
            return summary.Interrupted ? 130 : 0;
        });
        return command;
    }

    public static int DefaultBatchSize(CliHost host) =>
        host.Setup!.IsHashing ? 512 : Math.Clamp(host.Model.BatchSize * host.Model.MaxConcurrentBatches, 1, 1_000);

    public static void Print(Reporter reporter, WorkSummary summary)
    {
        if (reporter.Json)
        {
            JsonOutput.Write(summary);
            return;
        }

        reporter.Line($"{(summary.Interrupted ? "stopped" : "finished")}: {summary.Completed:N0} done, {summary.Failed:N0} failed ({summary.Dead:N0} dead), {summary.Released:N0} released, "
            + $"{summary.RatePerSecond:N0}/s over {Reporter.Seconds(TimeSpan.FromSeconds(summary.ElapsedSeconds))}; outstanding {summary.Outstanding:N0}");
    }
}
