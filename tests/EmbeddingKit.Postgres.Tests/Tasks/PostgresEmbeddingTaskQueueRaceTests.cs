using EmbeddingKit.Tasks;
using Npgsql;

namespace EmbeddingKit.Postgres.Tests.Tasks;

/// <summary>The queue against concurrent writers on a real PostgreSQL: a complete racing an uncommitted enqueue, tasks
/// that kill their worker, and the lock order of bulk enqueues against completing batches.</summary>
public sealed partial class PostgresEmbeddingTaskQueueTests
{
    [Fact]
    public async Task CompleteAsync_RacingAnUncommittedEnqueueOfTheSameKey_ReleasesTheNewGenerationAtOnce()
    {
        await _queue.EnqueueAsync([new EnqueueRequest("doc", "a", Model)], Ct);
        var task = Assert.Single(await FetchAsync());

        // A host's transaction enqueues the key again and holds the row lock while the worker completes.
        await using var connection = await DataSource.OpenConnectionAsync(Ct);
        await using var transaction = await connection.BeginTransactionAsync(Ct);
        await _queue.EnqueueAsync([new EnqueueRequest("doc", "a", Model)], connection, transaction, Ct);
        var complete = _queue.CompleteAsync([task], Ct).AsTask();
        await WaitUntilBlockedAsync();
        await transaction.CommitAsync(Ct);
        var result = await complete;

        Assert.Equal([task.Id], result.Rerun);
        Assert.Empty(result.LeaseLost);
        Assert.Equal(1L, await ScalarAsync<long>("SELECT count(*) FROM {s}.embeddingkit_embedding_tasks WHERE lease_token IS NULL AND run_at <= now()"));
    }

    [Fact]
    public async Task FetchReadyAsync_TaskClaimedMaxAttemptsTimesWithoutAResult_IsDeadLetteredWithTheReason()
    {
        await _queue.EnqueueAsync([new EnqueueRequest("doc", "killer", Model)], Ct);
        for (var i = 0; i < 3; i++)
        {
            // The worker dies on it: no complete, no fail, the lease runs out.
            Assert.Single(await FetchAsync());
            await ExecuteAsync("UPDATE {s}.embeddingkit_embedding_tasks SET run_at = now() - interval '1 second'");
        }

        var fourth = await FetchAsync();

        Assert.Empty(fourth);
        Assert.Equal(0L, await ScalarAsync<long>("SELECT count(*) FROM {s}.embeddingkit_embedding_tasks"));
        var dead = Assert.Single(await _admin.ListDeadAsync(cancellationToken: Ct));
        Assert.Equal("killer", dead.Key.EntityId);
        Assert.Contains("Claimed 3 times without a result", dead.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task EnqueueAndComplete_BulkEnqueueOverlappingCompletingBatches_NeverDeadlock()
    {
        // Keys enqueued one by one in descending order: ids run opposite to key order, so a batch completed in claim
        // (id) order and an enqueue in key order take the same rows in opposite orders unless one order is kept everywhere.
        const int Keys = 200;
        var keys = Enumerable.Range(0, Keys).Select(i => $"k{i:D4}").ToList();
        foreach (var key in Enumerable.Reverse(keys))
        {
            await _queue.EnqueueAsync([new EnqueueRequest("doc", key, Model)], Ct);
        }

        var deadlocks = 0;
        var rounds = 0;
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(4));
        var enqueuer = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                // A business transaction that enqueues the lower half, then the upper half.
                await using var connection = await DataSource.OpenConnectionAsync(Ct);
                await using var transaction = await connection.BeginTransactionAsync(Ct);
                try
                {
                    await _queue.EnqueueAsync([.. keys.Take(Keys / 2).Select(k => new EnqueueRequest("doc", k, Model))], connection, transaction, Ct);
                    await _queue.EnqueueAsync([.. keys.Skip(Keys / 2).Select(k => new EnqueueRequest("doc", k, Model))], connection, transaction, Ct);
                    await transaction.CommitAsync(Ct);
                    Interlocked.Increment(ref rounds);
                }
                catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.DeadlockDetected)
                {
                    Interlocked.Increment(ref deadlocks);
                }
            }
        }, Ct);
        var completer = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    var tasks = await _queue.FetchReadyAsync(new FetchRequest([Model], Keys, "w", Lease), Ct);
                    if (tasks.Count > 0)
                    {
                        await _queue.CompleteAsync(tasks, Ct);
                    }
                }
                catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.DeadlockDetected)
                {
                    Interlocked.Increment(ref deadlocks);
                }
            }
        }, Ct);
        await Task.WhenAll(enqueuer, completer);

        Assert.True(rounds > 0);
        Assert.Equal(0, deadlocks);
    }

    private async Task WaitUntilBlockedAsync()
    {
        for (var i = 0; i < 600; i++)
        {
            if (await ScalarAsync<long>("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()") > 0)
            {
                return;
            }

            await Task.Delay(50, Ct);
        }

        throw new TimeoutException("The complete never waited for the enqueuer's row lock.");
    }
}
