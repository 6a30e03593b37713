using System.CommandLine;
using System.Globalization;
using EmbeddingKit.Cli.Infrastructure;
using EmbeddingKit.Tasks;

namespace EmbeddingKit.Cli.Commands;

/// <summary><c>embeddingkit status [--json]</c>: the pgvector version (with a warning for versions with known defects), coverage, tasks by state, oldest pending age and dead-task errors per entity type and model.</summary>
internal static class StatusCommand
{
    public static Command Create()
    {
        var errors = new Option<int>("--errors") { Description = "Last errors of dead tasks to show per entity type and model.", DefaultValueFactory = _ => 3 };
        var command = new Command("status", "Per entity type and model: coverage (stored vectors / documents), tasks by state, oldest pending age, the active model, and the last errors of dead tasks.");
        command.Options.Add(errors);
        command.Options.Add(CommonOptions.Json);
        command.SetAction(async (parseResult, cancellationToken) =>
        {
            var settings = CliSettings.From(parseResult);
            var reporter = new Reporter(parseResult.GetValue(CommonOptions.Json));
            var errorCount = Math.Clamp(parseResult.GetValue(errors), 0, 100);
            await using var host = await CliHost.OpenAsync(settings, reporter, withModel: false, cancellationToken);
            var documents = await host.Documents.CountByEntityTypeAsync(cancellationToken);
            var stored = await StoredVectors.CountAsync(host.DataSource, host.Schema, cancellationToken);
            var stats = await host.QueueAdmin.GetStatsAsync(cancellationToken);
            var pgvector = await PgvectorStatus.ReadAsync(host.DataSource, cancellationToken);
            var active = (await host.Rollout.ListActiveAsync(cancellationToken)).ToDictionary(a => a.EntityType, StringComparer.Ordinal);
            var entityTypes = documents.Keys.Concat(stored.Select(s => s.EntityType)).Concat(stats.Select(s => s.EntityType)).Concat(active.Keys)
                .Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
            var report = new List<EntityTypeStatus>();
            foreach (var type in entityTypes)
            {
                var total = documents.GetValueOrDefault(type);
                active.TryGetValue(type, out var activeModel);
                var models = stored.Where(s => s.EntityType == type).Select(s => s.Model)
                    .Concat(stats.Where(s => s.EntityType == type).Select(s => s.Model))
                    .Concat(activeModel is null ? [] : [activeModel.Model])
                    .Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
                var modelStatuses = new List<ModelStatus>();
                foreach (var model in models)
                {
                    var vectors = stored.FirstOrDefault(s => s.EntityType == type && s.Model == model);
                    var queue = stats.FirstOrDefault(s => s.EntityType == type && s.Model == model) ?? new QueueStats { EntityType = type, Model = model };
                    var dead = queue.Dead > 0 && errorCount > 0 ? await host.QueueAdmin.ListDeadAsync(errorCount, model, type, cancellationToken) : [];
                    var settingsRow = await host.Rollout.GetSearchSettingsAsync(model, cancellationToken);
                    var count = vectors?.Count ?? 0;
                    modelStatuses.Add(new ModelStatus(
                        model,
                        vectors?.Dimensions,
                        activeModel?.Model == model,
                        count,
                        vectors?.Chunks ?? 0,
                        total == 0 ? null : Math.Round(Math.Min(1, count / (double)total), 4),
                        new TaskCounts(queue.Ready, queue.Scheduled, queue.Running, queue.LeaseExpired, queue.Dead),
                        queue.Outstanding,
                        queue.OldestAge is { } age ? Math.Round(age.TotalSeconds, 1) : null,
                        queue.PausedUntil,
                        queue.PauseReason,
                        settingsRow is null ? null : new SavedSearchSettings(TuneCommand.PathName(settingsRow.Path), settingsRow.Oversample, settingsRow.EfSearch, settingsRow.Recall),
                        [.. dead.Select(d => new DeadError(d.Key.EntityId, d.Error, d.Attempts, d.DiedAt))]));
                }

                report.Add(new EntityTypeStatus(type, total, activeModel?.Model, activeModel?.PreviousModel, modelStatuses));
            }

            if (reporter.Json)
            {
                JsonOutput.Write(new { schema = host.Schema, pgvector, entityTypes = report });
                return 0;
            }

            Print(reporter, host.Schema, pgvector, report);
            return 0;
        });
        return command;
    }

    private static void Print(Reporter reporter, string schema, PgvectorStatus pgvector, List<EntityTypeStatus> report)
    {
        reporter.Line($"schema {schema}; pgvector {pgvector.Version ?? $"not created yet ({pgvector.Available ?? "not available"} available)"}");
        if (report.Count == 0)
        {
            reporter.Line("  no documents, vectors or tasks yet (try: embeddingkit ingest FILE --entity-type T)");
        }

        foreach (var type in report)
        {
            reporter.Line($"{type.EntityType}: {type.Documents:N0} documents; active model {type.ActiveModel ?? "none"}{(type.PreviousModel is null ? "" : $" (previous {type.PreviousModel})")}");
            foreach (var m in type.Models)
            {
                var coverage = m.Coverage is { } c ? c.ToString("P1", CultureInfo.InvariantCulture) : "-";
                var oldest = m.OldestPendingAgeSeconds is { } s ? $", oldest pending {s:N0} s" : "";
                var paused = m.PausedUntil is { } p ? $", PAUSED until {p:u}: {m.PauseReason?.ReplaceLineEndings(" ")}" : "";
                reporter.Line(string.Create(CultureInfo.InvariantCulture,
                    $"  {m.Model}{(m.Active ? " (active)" : "")}: {m.Stored:N0} stored{(m.Chunks != m.Stored ? $" in {m.Chunks:N0} chunks" : "")}, coverage {coverage}; tasks ready {m.Tasks.Ready:N0}, scheduled {m.Tasks.Scheduled:N0}, running {m.Tasks.Running:N0}, lease expired {m.Tasks.LeaseExpired:N0}, dead {m.Tasks.Dead:N0}{oldest}{paused}"));
                foreach (var e in m.LastErrors)
                {
                    reporter.Line($"    dead {e.EntityId} after {e.Attempts} attempt(s) at {e.DiedAt:u}: {e.Error.ReplaceLineEndings(" ")}");
                }
            }
        }
    }

    private sealed record EntityTypeStatus(string EntityType, long Documents, string? ActiveModel, string? PreviousModel, IReadOnlyList<ModelStatus> Models);

    private sealed record ModelStatus(
        string Model, int? Dimensions, bool Active, long Stored, long Chunks, double? Coverage, TaskCounts Tasks, long Outstanding,
        double? OldestPendingAgeSeconds, DateTimeOffset? PausedUntil, string? PauseReason, SavedSearchSettings? SearchSettings, IReadOnlyList<DeadError> LastErrors);

    private sealed record TaskCounts(long Ready, long Scheduled, long Running, long LeaseExpired, long Dead);

    private sealed record SavedSearchSettings(string Path, int Oversample, int EfSearch, double? Recall);

    private sealed record DeadError(string EntityId, string Error, int Attempts, DateTimeOffset DiedAt);
}
