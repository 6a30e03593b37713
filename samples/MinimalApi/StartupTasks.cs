using EmbeddingKit.Postgres.Storage;
using EmbeddingKit.Runtime;

namespace MinimalApi;

/// <summary>
/// Runs once at start, after EmbeddingKit's migrations (which <c>UsePostgres(..., applyMigrationsOnStart: true)</c>
/// registers first): creates the articles table and builds the per-model search indexes. Index builds are explicit in
/// EmbeddingKit (<c>CREATE INDEX CONCURRENTLY</c>); on an empty or small table they take no time.
/// </summary>
public sealed class StartupTasks(ArticleStore articles, EmbeddingModelRegistry models, PgvectorEmbeddingStorage storage, EmbeddingIndexManager indexes) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await articles.EnsureCreatedAsync(cancellationToken);
        foreach (var model in models.Models)
        {
            var table = storage.GetTable(model.Name);
            await indexes.EnsureTableAsync(table, cancellationToken);
            await indexes.EnsureModelIndexesAsync(table, model.Name, cancellationToken);
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
