using EmbeddingKit.Hosting;
using EmbeddingKit.Runtime;
using Microsoft.Extensions.DependencyInjection;

namespace EmbeddingKit.Bench.Scenarios.Quality;

/// <summary>The user's write path for a quality corpus: the entities enqueued, then the composed
/// <see cref="EmbeddingWorker"/> run until every task is done (the document builder builds each document, the worker
/// embeds it and stores it).</summary>
internal static class WorkerDrain
{
    public static async Task RunAsync(IServiceProvider services, string entityType, IReadOnlyCollection<string> entityIds, string what, CancellationToken cancellationToken)
    {
        await services.GetRequiredService<EmbeddingRuntime>().EnqueueTextEmbeddingAsync(entityType, entityIds, cancellationToken: cancellationToken);
        var worker = services.GetRequiredService<EmbeddingWorker>();
        await worker.StartAsync(cancellationToken);
        while (worker.Completed + worker.Failed < entityIds.Count)
        {
            await Task.Delay(50, cancellationToken);
        }

        await worker.StopAsync(cancellationToken);
        if (worker.Failed > 0)
        {
            throw new InvalidOperationException($"{worker.Failed} of {entityIds.Count} {what} failed to embed.");
        }
    }
}
