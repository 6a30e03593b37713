using System.CommandLine;
using EmbeddingKit.Cli.Infrastructure;
using EmbeddingKit.Postgres.Migrations;

namespace EmbeddingKit.Cli.Commands;

/// <summary><c>embeddingkit migrate</c>: applies EmbeddingKit's migrations to the schema.</summary>
internal static class MigrateCommand
{
    public static Command Create()
    {
        var command = new Command("migrate", "Apply EmbeddingKit's migrations to the schema (idempotent, safe to run concurrently).");
        command.Options.Add(CommonOptions.Json);
        command.SetAction(async (parseResult, cancellationToken) =>
        {
            var settings = CliSettings.From(parseResult);
            var json = parseResult.GetValue(CommonOptions.Json);
            await using var dataSource = await settings.OpenDataSourceAsync(json ? null : Console.Error.WriteLine, cancellationToken);
            var applied = await EmbeddingKitMigrations.ApplyAsync(dataSource, settings.Schema, cancellationToken);
            var all = await EmbeddingKitMigrations.GetAppliedVersionsAsync(dataSource, settings.Schema, cancellationToken);
            var pgvector = await PgvectorStatus.ReadAsync(dataSource, cancellationToken);
            if (json)
            {
                JsonOutput.Write(new { schema = settings.Schema, applied, version = all.Count == 0 ? 0 : all[^1], pgvector });
            }
            else
            {
                Console.Out.WriteLine(applied.Count == 0
                    ? $"schema {settings.Schema} is up to date (version {all[^1]})"
                    : $"schema {settings.Schema}: applied migration(s) {string.Join(", ", applied)}; now at version {all[^1]}");
            }

            return 0;
        });
        return command;
    }
}
