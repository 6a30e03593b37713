using System.CommandLine;
using EmbeddingKit.Cli.Infrastructure;
using EmbeddingKit.Postgres;
using EmbeddingKit.Tasks;
using Npgsql;

namespace EmbeddingKit.Cli.Commands;

/// <summary><c>embeddingkit ingest &lt;file|folder&gt; --entity-type T</c>: writes documents and enqueues the changed ones.</summary>
internal static class IngestCommand
{
    public static Command Create()
    {
        var path = new Argument<string>("path") { Description = "A .jsonl/.ndjson file (id, text, other fields kept as metadata), a .csv file (header with id and text), a .txt/.md file, or a folder of them." };
        var entityType = CommandOptions.EntityType();
        var sync = new Option<bool>("--sync")
        {
            Description = "Also delete the documents of the entity type that the source does not hold (and, through the queue, their vectors); the whole ingest is then one transaction.",
        };
        var command = new Command("ingest", "Write documents to the documents table, one transaction per file, and enqueue embedding of the new and changed ones (in the same transaction).");
        command.Arguments.Add(path);
        command.Options.Add(entityType);
        command.Options.Add(sync);
        command.Options.Add(CommonOptions.Json);
        command.SetAction(async (parseResult, cancellationToken) =>
        {
            var settings = CliSettings.From(parseResult);
            var reporter = new Reporter(parseResult.GetValue(CommonOptions.Json));
            var type = CommandOptions.CheckEntityType(parseResult.GetValue(entityType));
            var input = parseResult.GetValue(path)!;
            var files = SourceFiles.Resolve(input);
            var root = Directory.Exists(input) ? input : null;
            await using var host = await CliHost.OpenAsync(settings, reporter, withModel: true, cancellationToken);
            var results = new List<IngestFileResult>();
            DocumentDeletion.Result? removed = null;
            if (parseResult.GetValue(sync))
            {
                // One transaction for every file and the deletion of what none of them holds.
                await using var connection = await host.DataSource.OpenConnectionAsync(cancellationToken);
                await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
                await using (var create = new NpgsqlCommand(Sql.CreateSeen, connection, transaction))
                {
                    await create.ExecuteNonQueryAsync(cancellationToken);
                }

                foreach (var file in files)
                {
                    var result = await WriteAsync(host, file, type, SourceFiles.ReadAsync(file, root, cancellationToken), (connection, transaction), cancellationToken);
                    results.Add(result);
                    Report(result);
                }

                removed = await DocumentDeletion.DeleteAbsentAsync(host, connection, transaction, type, SeenTable, cancellationToken);
                await transaction.CommitAsync(cancellationToken);
                reporter.Line($"sync: {removed.Deleted.Count:N0} documents absent from the source deleted, {removed.Enqueued:N0} task(s) enqueued to delete their vectors");
            }
            else
            {
                foreach (var file in files)
                {
                    var result = await IngestFileAsync(host, file, root, type, cancellationToken);
                    results.Add(result);
                    Report(result);
                }
            }

            if (reporter.Json)
            {
                JsonOutput.Write(new
                {
                    entityType = type,
                    model = host.Model.Name,
                    files = results,
                    documents = results.Sum(r => r.Documents),
                    changed = results.Sum(r => r.Changed),
                    enqueued = results.Sum(r => r.Enqueued),
                    deleted = removed?.Deleted,
                    deletionsEnqueued = removed?.Enqueued,
                });
            }

            return 0;

            void Report(IngestFileResult result) =>
                reporter.Line($"{result.File}: {result.Documents:N0} documents, {result.Changed:N0} new or changed, {result.Enqueued:N0} enqueued for {host.Model.Name}");
        });
        return command;
    }

    /// <summary>The temporary table of the ids an ingest with <c>--sync</c> has seen.</summary>
    private const string SeenTable = "embeddingkit_ingest_seen";

    /// <summary>Documents written per round of staging COPY, upsert and enqueue.</summary>
    private const int ChunkSize = 5_000;

    /// <summary>Streams one file into the documents table and enqueues its changed documents, in one transaction:
    /// a malformed record anywhere in the file rolls back everything written before it.</summary>
    public static async Task<IngestFileResult> IngestFileAsync(CliHost host, string file, string? root, string entityType, CancellationToken cancellationToken) =>
        await WriteAsync(host, file, entityType, SourceFiles.ReadAsync(file, root, cancellationToken), null, cancellationToken);

    public static Task<IngestFileResult> WriteAsync(CliHost host, string file, string entityType, IReadOnlyList<SourceDocument> documents, CancellationToken cancellationToken) =>
        WriteAsync(host, file, entityType, documents.ToAsyncEnumerable(), null, cancellationToken);

    /// <summary>Writes one file, in its own transaction, or in <paramref name="sync"/>'s (then every id written is also
    /// recorded in <see cref="SeenTable"/>, and the caller commits).</summary>
    private static async Task<IngestFileResult> WriteAsync(
        CliHost host, string file, string entityType, IAsyncEnumerable<SourceDocument> documents, (NpgsqlConnection Connection, NpgsqlTransaction Transaction)? sync, CancellationToken cancellationToken)
    {
        await using var owned = sync is null ? await host.DataSource.OpenConnectionAsync(cancellationToken) : null;
        var connection = sync?.Connection ?? owned!;
        await using var ownTransaction = sync is null ? await connection.BeginTransactionAsync(cancellationToken) : null;
        var transaction = sync?.Transaction ?? ownTransaction!;
        var chunk = new List<SourceDocument>(ChunkSize);
        int written = 0, changed = 0, enqueued = 0;
        await foreach (var document in documents.WithCancellation(cancellationToken))
        {
            chunk.Add(document);
            if (chunk.Count == ChunkSize)
            {
                await FlushAsync();
            }
        }

        await FlushAsync();
        if (ownTransaction is not null)
        {
            await ownTransaction.CommitAsync(cancellationToken);
        }

        return new IngestFileResult(file, written, changed, enqueued);

        async Task FlushAsync()
        {
            if (chunk.Count == 0)
            {
                return;
            }

            // The last record of an id wins (one row per id; a later chunk overwrites an earlier one the same way).
            var distinct = chunk.GroupBy(d => d.Id, StringComparer.Ordinal).Select(g => g.Last()).ToList();
            chunk.Clear();
            if (sync is not null)
            {
                await using var seen = new NpgsqlCommand(Sql.RecordSeen, connection, transaction);
                seen.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = [.. distinct.Select(d => d.Id)] });
                await seen.ExecuteNonQueryAsync(cancellationToken);
            }

            var ids = await host.Documents.UpsertAsync(connection, transaction, entityType, distinct, cancellationToken);
            written += distinct.Count;
            changed += ids.Count;

            // Unchanged documents embedded before the lexical index existed (a database from an earlier version) have a
            // vector but no lexical document: their tasks write it without a provider call.
            ids.AddRange(await LackingLexicalAsync(host, connection, transaction, entityType, distinct.Select(d => d.Id).Except(ids, StringComparer.Ordinal).ToArray(), cancellationToken));
            if (ids.Count > 0)
            {
                var requests = ids.ConvertAll(id => new EnqueueRequest(entityType, id, host.Model.Name));
                enqueued += await host.Queue.EnqueueAsync(requests, connection, transaction, cancellationToken);
            }
        }
    }

    private static async Task<List<string>> LackingLexicalAsync(
        CliHost host, NpgsqlConnection connection, NpgsqlTransaction transaction, string entityType, string[] unchanged, CancellationToken cancellationToken)
    {
        var lacking = new List<string>();
        if (unchanged.Length == 0 || host.Storage.LexicalSchema is not { } schema || host.Table is not { } table)
        {
            return lacking;
        }

        // Composed per call: it names the host's lexical documents and embedding table, which this static command gets
        // per call.
        await using var command = new NpgsqlCommand($"""
            SELECT i.id FROM unnest($2::text[]) AS i(id)
            WHERE NOT EXISTS (SELECT 1 FROM {PostgresIdentifier.Qualify(schema, "embeddingkit_lexical_documents")} l WHERE l.entity_type = $1 AND l.entity_id = i.id)
              AND EXISTS (SELECT 1 FROM {table.QualifiedName} e WHERE e.entity_type = $1 AND e.entity_id = i.id AND e.model = $3)
            """, connection, transaction);
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = entityType });
        command.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = unchanged });
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = host.Model.Name });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            lacking.Add(reader.GetString(0));
        }

        return lacking;
    }

    /// <summary>The statements over <see cref="SeenTable"/> (constant text; the ids are a parameter).</summary>
    private static class Sql
    {
        public const string CreateSeen = $"CREATE TEMP TABLE {SeenTable} (id text PRIMARY KEY) ON COMMIT DROP";

        public const string RecordSeen = $"INSERT INTO {SeenTable} SELECT unnest($1::text[]) ON CONFLICT DO NOTHING";
    }
}
