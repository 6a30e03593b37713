using System.Globalization;
using EmbeddingKit.Postgres.Tasks;
using EmbeddingKit.Runtime;
using EmbeddingKit.Samples;
using EmbeddingKit.Tasks;
using Hangfire;
using Npgsql;

namespace DrainWithHangfire;

/// <summary>
/// At start: creates the documents table, writes <c>Sample:SeedDocuments</c> documents and enqueues their embeddings in
/// the same transaction, then asks Hangfire to drain the queue now (a fire-and-forget job) rather than at the next
/// recurring run.
/// </summary>
public sealed class SeedDocuments(
    NpgsqlDataSource dataSource, DocumentsTable documents, PostgresEmbeddingTaskQueue queue, EmbeddingModelRegistry models,
    IBackgroundJobClient jobs, IConfiguration configuration) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await documents.EnsureCreatedAsync(cancellationToken);
        var count = configuration.GetValue("Sample:SeedDocuments", 0);
        if (count > 0)
        {
            await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
            var requests = new List<EnqueueRequest>(count);
            for (var i = 1; i <= count; i++)
            {
                var id = "seed-" + i.ToString("D4", CultureInfo.InvariantCulture);
                await documents.UpsertAsync(id, $"Seeded document {i}: embeddings kept fresh by a Hangfire job", connection, transaction, cancellationToken);
                requests.AddRange(models.WriteModels.Select(m => new EnqueueRequest(DocumentsTable.EntityType, id, m)));
            }

            await queue.EnqueueAsync(requests, connection, transaction, cancellationToken);
            await transaction.CommitAsync(cancellationToken);
        }

        jobs.Enqueue<DrainEmbeddingQueueJob>(job => job.RunAsync(CancellationToken.None));
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
