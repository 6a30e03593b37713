using EmbeddingKit.Postgres.Tasks;
using EmbeddingKit.Runtime;

namespace DrainWithHangfire;

/// <summary>
/// A Hangfire job that drains EmbeddingKit's queue: <see cref="PostgresEmbeddingTaskQueue.DrainOnceAsync"/> claims a
/// batch (<c>FOR UPDATE SKIP LOCKED</c>), lets the runtime embed and store it, and completes or fails each task, until
/// nothing is ready. Any job system can run this loop; Hangfire's own retries are not needed (the queue retries tasks).
/// </summary>
public sealed partial class DrainEmbeddingQueueJob(
    PostgresEmbeddingTaskQueue queue, EmbeddingRuntime runtime, IConfiguration configuration, ILogger<DrainEmbeddingQueueJob> logger)
{
    // #region drain
    [global::Hangfire.AutomaticRetry(Attempts = 0)]
    [global::Hangfire.DisableConcurrentExecution(timeoutInSeconds: 60)]
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var batchSize = configuration.GetValue("Drain:BatchSize", 64);
        var maxBatches = configuration.GetValue("Drain:MaxBatchesPerRun", 1000);
        int claimed = 0, completed = 0, failed = 0;
        for (var batch = 0; batch < maxBatches; batch++)
        {
            var result = await queue.DrainOnceAsync(runtime, batchSize, workerId: "hangfire", cancellationToken: cancellationToken);
            if (result.Claimed == 0)
            {
                break;   // nothing ready: the next run (or the next enqueue) picks up from here
            }

            claimed += result.Claimed;
            completed += result.Completion.Completed.Count;
            failed += result.Failure.Retried.Count + result.Failure.Dead.Count;
        }

        LogDrained(logger, claimed, completed, failed);
    }
    // #endregion drain

    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "Drained {Claimed} task(s): {Completed} completed, {Failed} failed")]
    private static partial void LogDrained(ILogger logger, int claimed, int completed, int failed);
}
