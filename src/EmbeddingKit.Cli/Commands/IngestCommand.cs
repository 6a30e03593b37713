using System.CommandLine;
using EmbeddingKit.Cli.Infrastructure;
using EmbeddingKit.Tasks;

namespace EmbeddingKit.Cli.Commands;

/// <summary><c>embeddingkit ingest &lt;file|folder&gt; --entity-type T</c>: writes documents and enqueues the changed ones.</summary>
internal static class IngestCommand
{
    public static Command Create()
    {
        var path = new Argument<string>("path") { Description = "A .jsonl/.ndjson file (id, text, other fields kept as metadata), a .csv file (header with id and text), a .txt/.md file, or a folder of them." };
        var entityType = CommandOptions.EntityType();
        var command = new Command("ingest", "Write documents to the documents table, one transaction per file, and enqueue embedding of the new and changed ones (in the same transaction).");
        command.Arguments.Add(path);
        command.Options.Add(entityType);
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
            foreach (var file in files)
            {
                var result = await IngestFileAsync(host, file, root, type, cancellationToken);
                results.Add(result);
                reporter.Line($"{file}: {result.Documents:N0} documents, {result.Changed:N0} new or changed, {result.Enqueued:N0} enqueued for {host.Model.Name}");
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
                });
            }

            return 0;
        });
        return command;
    }

    /// <summary>Documents written per round of staging COPY, upsert and enqueue.</summary>
    private const int ChunkSize = 5_000;

    /// <summary>Streams one file into the documents table and enqueues its changed documents, in one transaction:
    /// a malformed record anywhere in the file rolls back everything written before it.</summary>
    public static async Task<IngestFileResult> IngestFileAsync(CliHost host, string file, string? root, string entityType, CancellationToken cancellationToken) =>
        await WriteAsync(host, file, entityType, SourceFiles.ReadAsync(file, root, cancellationToken), cancellationToken);

    public static Task<IngestFileResult> WriteAsync(CliHost host, string file, string entityType, IReadOnlyList<SourceDocument> documents, CancellationToken cancellationToken) =>
        WriteAsync(host, file, entityType, documents.ToAsyncEnumerable(), cancellationToken);

    private static async Task<IngestFileResult> WriteAsync(CliHost host, string file, string entityType, IAsyncEnumerable<SourceDocument> documents, CancellationToken cancellationToken)
    {
        await using var connection = await host.DataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
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
        await transaction.CommitAsync(cancellationToken);
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
            var ids = await host.Documents.UpsertAsync(connection, transaction, entityType, distinct, cancellationToken);
            written += distinct.Count;
            changed += ids.Count;
            if (ids.Count > 0)
            {
                var requests = ids.ConvertAll(id => new EnqueueRequest(entityType, id, host.Model.Name));
                enqueued += await host.Queue.EnqueueAsync(requests, connection, transaction, cancellationToken);
            }
        }
    }
}
