using System.CommandLine;
using System.Globalization;
using EmbeddingKit.Cli.Infrastructure;

namespace EmbeddingKit.Cli.Commands;

/// <summary><c>embeddingkit prune</c>: deletes old dead tasks.</summary>
internal static class PruneCommand
{
    public static Command Create()
    {
        var olderThan = new Option<string>("--older-than") { Description = "Delete dead tasks that died longer ago than this: 0, 90s, 30m, 12h or 7d.", DefaultValueFactory = _ => "7d" };
        var command = new Command("prune", "Delete dead tasks older than --older-than (only of --model when given).");
        command.Options.Add(olderThan);
        command.Options.Add(CommonOptions.Json);
        command.SetAction(async (parseResult, cancellationToken) =>
        {
            var settings = CliSettings.From(parseResult);
            var reporter = new Reporter(parseResult.GetValue(CommonOptions.Json));
            var age = ParseAge(parseResult.GetValue(olderThan)!);
            await using var host = await CliHost.OpenAsync(settings, reporter, withModel: false, cancellationToken);
            var pruned = await host.QueueAdmin.PruneDeadAsync(age, settings.Model, cancellationToken);
            if (reporter.Json)
            {
                JsonOutput.Write(new { pruned, olderThanSeconds = age.TotalSeconds, model = settings.Model });
            }
            else
            {
                reporter.Line($"pruned {pruned:N0} dead task(s) older than {parseResult.GetValue(olderThan)}");
            }

            return 0;
        });
        return command;
    }

    public static TimeSpan ParseAge(string value)
    {
        value = value.Trim();
        if (value == "0")
        {
            return TimeSpan.Zero;
        }

        if (value.Length >= 2 && double.TryParse(value.AsSpan(0, value.Length - 1), NumberStyles.Float, CultureInfo.InvariantCulture, out var number) && number >= 0)
        {
            switch (value[^1])
            {
                case 's': return TimeSpan.FromSeconds(number);
                case 'm': return TimeSpan.FromMinutes(number);
                case 'h': return TimeSpan.FromHours(number);
                case 'd': return TimeSpan.FromDays(number);
            }
        }

        throw new CliException($"invalid --older-than '{value}': use 0, 90s, 30m, 12h or 7d", 2);
    }
}
