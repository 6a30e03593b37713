using System.Collections.Concurrent;
using EmbeddingKit.Postgres.Tasks;
using EmbeddingKit.Tasks;
using EmbeddingKit.TestInfrastructure.Postgres;
using Npgsql;

namespace EmbeddingKit.Postgres.Tests.Tasks;

public sealed partial class PostgresEmbeddingTaskQueueTests(PostgresServer server) : SchemaTest(server)
{
    private const string Model = "model-a";
    private static readonly TimeSpan Lease = TimeSpan.FromMinutes(1);
    private PostgresEmbeddingTaskQueue _queue = null!;
    private PostgresEmbeddingQueueAdmin _admin = null!;

    public override async ValueTask InitializeAsync()
    {
        await base.InitializeAsync();
        _queue = new PostgresEmbeddingTaskQueue(DataSource, Schema, new PostgresTaskQueueOptions { MaxAttempts = 3 });
        _admin = new PostgresEmbeddingQueueAdmin(DataSource, Schema, _queue.Options);
    }

    private static EnqueueRequest Request(string id, string model = Model, short priority = 0) => new("doc", id, model) { Priority = priority };

    private ValueTask<IReadOnlyList<EmbeddingTask>> FetchAsync(int batch = 10, string worker = "w1", params string[] models) =>
        _queue.FetchReadyAsync(new FetchRequest(models.Length == 0 ? [Model] : models, batch, worker, Lease), Ct);

    private Task ExpireLeasesAsync() => ExecuteAsync("UPDATE {s}.embeddingkit_embedding_tasks SET run_at = now() - interval '1 second' WHERE lease_token IS NOT NULL");

    private Task MakeAllReadyAsync() => ExecuteAsync("UPDATE {s}.embeddingkit_embedding_tasks SET run_at = now() - interval '1 second'");

    [Fact]
    public async Task FetchReadyAsync_TableNeverAnalyzed_ClaimIsAnOrderedIndexScanWithoutSort()
    {
        // A burst into a fresh queue table: no statistics yet, so the planner guesses a handful of ready rows.
        await ExecuteAsync("ALTER TABLE {s}.embeddingkit_embedding_tasks SET (autovacuum_enabled = false)");
        await _queue.EnqueueAsync([.. Enumerable.Range(0, 20_000).Select(i => Request(i.ToString(System.Globalization.CultureInfo.InvariantCulture)))], Ct);

        var withSettings = await ExplainClaimAsync(withPlanSettings: true);
        var without = await ExplainClaimAsync(withPlanSettings: false);
        var claimed = await FetchAsync(batch: 64);

        Assert.Equal(0L, await ScalarAsync<long>("SELECT coalesce(analyze_count + autoanalyze_count, 0) FROM pg_stat_user_tables WHERE relid = '{s}.embeddingkit_embedding_tasks'::regclass"));
        Assert.Contains("Sort", without, StringComparison.Ordinal);
        Assert.Contains("Index Scan using embeddingkit_embedding_tasks_fetch", withSettings, StringComparison.Ordinal);
        Assert.DoesNotContain("Sort", withSettings, StringComparison.Ordinal);
        Assert.DoesNotContain("Bitmap", withSettings, StringComparison.Ordinal);
        Assert.Equal(64, claimed.Count);
    }

    private async Task<string> ExplainClaimAsync(bool withPlanSettings)
    {
        await using var connection = await DataSource.OpenConnectionAsync(Ct);
        await using var batch = new NpgsqlBatch(connection);
        if (withPlanSettings)
        {
            batch.BatchCommands.Add(new NpgsqlBatchCommand(PostgresEmbeddingTaskQueue.Sql.ClaimPlanSettings));
        }

        var explain = new NpgsqlBatchCommand("EXPLAIN " + _queue.Statements.FetchOneModel);
        explain.Parameters.Add(new NpgsqlParameter<string> { TypedValue = Model });
        explain.Parameters.Add(new NpgsqlParameter<int> { TypedValue = 64 });
        explain.Parameters.Add(new NpgsqlParameter<Guid> { TypedValue = Guid.NewGuid() });
        explain.Parameters.Add(new NpgsqlParameter<string> { TypedValue = "w" });
        explain.Parameters.Add(new NpgsqlParameter<double> { TypedValue = 60 });
        explain.Parameters.Add(new NpgsqlParameter<int> { TypedValue = 3 });
        batch.BatchCommands.Add(explain);
        var lines = new List<string>();
        await using (var reader = await batch.ExecuteReaderAsync(Ct))
        {
            if (withPlanSettings)
            {
                await reader.NextResultAsync(Ct);
            }

            while (await reader.ReadAsync(Ct))
            {
                lines.Add(reader.GetString(0));
            }
        }

        // The settings end with the batch's implicit transaction: the connection is back to normal planning.
        await using var after = new NpgsqlCommand("SELECT current_setting('enable_sort') || ',' || current_setting('enable_bitmapscan')", connection);
        Assert.Equal("on,on", await after.ExecuteScalarAsync(Ct));
        return string.Join('\n', lines);
    }

    [Fact]
    public async Task EnqueueAsync_SameKeyTwice_CoalescesIntoOneTaskWithNewerGeneration()
    {
        await _queue.EnqueueAsync([Request("1")], Ct);
        var first = await ScalarAsync<long>("SELECT generation FROM {s}.embeddingkit_embedding_tasks");

        await _queue.EnqueueAsync([Request("1"), Request("1")], Ct);

        Assert.Equal(1L, await ScalarAsync<long>("SELECT count(*) FROM {s}.embeddingkit_embedding_tasks"));
        Assert.True(await ScalarAsync<long>("SELECT generation FROM {s}.embeddingkit_embedding_tasks") > first);
    }

    [Fact]
    public async Task EnqueueAsync_DelayedThenEnqueuedNow_PullsRunTimeForward()
    {
        await _queue.EnqueueAsync([Request("1") with { Delay = TimeSpan.FromHours(1) }], Ct);
        Assert.Empty(await FetchAsync());

        await _queue.EnqueueAsync([Request("1")], Ct);

        Assert.Single(await FetchAsync());
    }

    [Fact]
    public async Task FetchReadyAsync_PrioritiesAndModels_ClaimsLowerPriorityFirstAndOnlyRequestedModels()
    {
        await _queue.EnqueueAsync([Request("low", priority: 5), Request("high", priority: 0), Request("other", model: "model-b")], Ct);

        var first = await FetchAsync(batch: 1);
        var second = await FetchAsync(batch: 10);

        Assert.Equal("high", Assert.Single(first).EntityId);
        Assert.Equal("low", Assert.Single(second).EntityId);
        Assert.Equal(1L, await ScalarAsync<long>("SELECT count(*) FROM {s}.embeddingkit_embedding_tasks WHERE model = 'model-b' AND lease_token IS NULL"));
    }

    [Fact]
    public async Task FetchReadyAsync_SeveralModels_ClaimsAtMostBatchSizeAcrossModelsByPriority()
    {
        await _queue.EnqueueAsync([Request("a1", priority: 3), Request("a2", priority: 1), Request("b1", model: "model-b", priority: 0), Request("b2", model: "model-b", priority: 2), Request("c1", model: "model-c")], Ct);

        var tasks = await FetchAsync(3, "w1", Model, "model-b");

        Assert.Equal(["b1", "a2", "b2"], tasks.Select(t => t.EntityId));
        Assert.Equal(2L, await ScalarAsync<long>("SELECT count(*) FROM {s}.embeddingkit_embedding_tasks WHERE lease_token IS NULL"));
    }

    [Fact]
    public async Task FetchReadyAsync_ManyConcurrentFetchers_NeverClaimOneTaskTwiceNorExceedBatchSize()
    {
        const int total = 2_000;
        const int batch = 37;
        await _queue.EnqueueAsync([.. Enumerable.Range(0, total).Select(i => Request(i.ToString(System.Globalization.CultureInfo.InvariantCulture)))], Ct);
        var claimed = new ConcurrentBag<long>();
        var oversized = 0;

        await Task.WhenAll(Enumerable.Range(0, 8).Select(w => Task.Run(async () =>
        {
            while (true)
            {
                var tasks = await FetchAsync(batch, $"w{w}");
                if (tasks.Count == 0)
                {
                    return;
                }

                if (tasks.Count > batch)
                {
                    Interlocked.Increment(ref oversized);
                }

                foreach (var task in tasks)
                {
                    claimed.Add(task.Id);
                }
            }
        }, Ct)));

        Assert.Equal(0, oversized);
        Assert.Equal(total, claimed.Count);
        Assert.Equal(total, claimed.Distinct().Count());
    }

    [Fact]
    public async Task CompleteAsync_ClaimedTask_DeletesIt()
    {
        await _queue.EnqueueAsync([Request("1")], Ct);
        var task = Assert.Single(await FetchAsync());

        var result = await _queue.CompleteAsync([task], Ct);

        Assert.Equal([task.Id], result.Completed);
        Assert.Empty(result.LeaseLost);
        Assert.Equal(0L, await ScalarAsync<long>("SELECT count(*) FROM {s}.embeddingkit_embedding_tasks"));
    }

    [Fact]
    public async Task CompleteAsync_AfterLeaseExpiredAndTakenOver_RefusesOldOwnerAndAcceptsNewOwner()
    {
        await _queue.EnqueueAsync([Request("1")], Ct);
        var stale = Assert.Single(await FetchAsync(worker: "stalled"));
        await ExpireLeasesAsync();
        var fresh = Assert.Single(await FetchAsync(worker: "fresh"));

        var staleResult = await _queue.CompleteAsync([stale], Ct);
        var freshResult = await _queue.CompleteAsync([fresh], Ct);

        Assert.Equal(stale.Id, fresh.Id);
        Assert.NotEqual(stale.LeaseToken, fresh.LeaseToken);
        Assert.Equal(2, fresh.Attempts);
        Assert.Equal([stale.Id], staleResult.LeaseLost);
        Assert.Empty(staleResult.Completed);
        Assert.Equal([fresh.Id], freshResult.Completed);
    }

    [Fact]
    public async Task CompleteAsync_EnqueuedAgainWhileRunning_KeepsTaskAndRunsItAgainAtNewGeneration()
    {
        await _queue.EnqueueAsync([Request("1")], Ct);
        var running = Assert.Single(await FetchAsync());
        await _queue.EnqueueAsync([Request("1")], Ct);
        Assert.Empty(await FetchAsync());

        var result = await _queue.CompleteAsync([running], Ct);
        var again = Assert.Single(await FetchAsync());

        Assert.Equal([running.Id], result.Rerun);
        Assert.Empty(result.Completed);
        Assert.True(again.Generation > running.Generation);
        Assert.Equal([again.Id], (await _queue.CompleteAsync([again], Ct)).Completed);
    }

    [Fact]
    public async Task FailAsync_Retryable_BacksOffKeepsAttemptAndStoresError()
    {
        await _queue.EnqueueAsync([Request("1")], Ct);
        var task = Assert.Single(await FetchAsync());

        var result = await _queue.FailAsync([new TaskFailure(task, TaskFailureKind.Retryable, "provider 503")], Ct);

        Assert.Equal([task.Id], result.Retried);
        Assert.Empty(await FetchAsync());
        var delay = await ScalarAsync<double>("SELECT extract(epoch FROM run_at - now())::float8 FROM {s}.embeddingkit_embedding_tasks");
        var options = _queue.Options;
        Assert.InRange(delay, (options.BackoffBase.TotalSeconds * 0.5) - 1, options.BackoffBase.TotalSeconds + 1);
        Assert.Equal(1, await ScalarAsync<int>("SELECT attempts FROM {s}.embeddingkit_embedding_tasks"));
        Assert.Equal("provider 503", await ScalarAsync<string>("SELECT last_error FROM {s}.embeddingkit_embedding_tasks"));
    }

    [Fact]
    public void TaskBackoff_Delay_DoublesPerAttemptWithinJitterAndCaps()
    {
        var options = new PostgresTaskQueueOptions { BackoffBase = TimeSpan.FromSeconds(5), BackoffMax = TimeSpan.FromSeconds(60) };

        Assert.Equal(TimeSpan.FromSeconds(2.5), TaskBackoff.Delay(1, options, 0));
        Assert.Equal(TimeSpan.FromSeconds(5), TaskBackoff.Delay(1, options, 1));
        Assert.Equal(TimeSpan.FromSeconds(10), TaskBackoff.Delay(2, options, 1));
        Assert.Equal(TimeSpan.FromSeconds(15), TaskBackoff.Delay(3, options, 0.5));
        Assert.Equal(TimeSpan.FromSeconds(60), TaskBackoff.Delay(30, options, 1));
        Assert.Equal(TimeSpan.FromSeconds(30), TaskBackoff.Delay(1000, options, 0));
    }

    [Fact]
    public async Task FailAsync_RateLimited_DefersByRetryAfterWithoutUsingAnAttempt()
    {
        await _queue.EnqueueAsync([Request("1")], Ct);
        for (var i = 0; i < 5; i++)
        {
            var task = Assert.Single(await FetchAsync());
            await _queue.FailAsync([new TaskFailure(task, TaskFailureKind.RateLimited, "429", TimeSpan.FromSeconds(40))], Ct);
            var delay = await ScalarAsync<double>("SELECT extract(epoch FROM run_at - now())::float8 FROM {s}.embeddingkit_embedding_tasks");
            Assert.InRange(delay, 38, 41);
            await MakeAllReadyAsync();
        }

        Assert.Equal(0, await ScalarAsync<int>("SELECT attempts FROM {s}.embeddingkit_embedding_tasks"));
        Assert.Equal(5, await ScalarAsync<int>("SELECT deferrals FROM {s}.embeddingkit_embedding_tasks"));
        Assert.Equal(0L, await ScalarAsync<long>("SELECT count(*) FROM {s}.embeddingkit_embedding_tasks_dead"));
    }

    [Fact]
    public async Task FailAsync_RetryableOutOfAttempts_MovesToDeadWithErrorAndRequeueRestoresIt()
    {
        await _queue.EnqueueAsync([Request("1")], Ct);
        FailResult last = FailResult.Empty;
        for (var i = 0; i < 3; i++)
        {
            await MakeAllReadyAsync();
            var task = Assert.Single(await FetchAsync());
            last = await _queue.FailAsync([new TaskFailure(task, TaskFailureKind.Retryable, $"boom {i}")], Ct);
        }

        var dead = Assert.Single(await _admin.ListDeadAsync(cancellationToken: Ct));
        Assert.Single(last.Dead);
        Assert.Equal("boom 2", dead.Error);
        Assert.Equal(3, dead.Attempts);
        Assert.Equal(new EmbeddingTaskKey("doc", "1", Model), dead.Key);
        Assert.Equal(0L, await ScalarAsync<long>("SELECT count(*) FROM {s}.embeddingkit_embedding_tasks"));

        Assert.Equal(1, await _admin.RequeueDeadAsync(Model, cancellationToken: Ct));

        var requeued = Assert.Single(await FetchAsync());
        Assert.Equal(1, requeued.Attempts);
        Assert.Empty(await _admin.ListDeadAsync(cancellationToken: Ct));
    }

    [Fact]
    public async Task FailAsync_Permanent_IsDeadAtOnceAndOtherTasksOfTheBatchKeepTheirWork()
    {
        await _queue.EnqueueAsync([Request("bad"), Request("good")], Ct);
        var tasks = await FetchAsync();
        var bad = tasks.Single(t => t.EntityId == "bad");
        var good = tasks.Single(t => t.EntityId == "good");

        var failed = await _queue.FailAsync([new TaskFailure(bad, TaskFailureKind.Permanent, "input 0 is empty")], Ct);
        var completed = await _queue.CompleteAsync([good], Ct);

        Assert.Equal([bad.Id], failed.Dead);
        Assert.Equal([good.Id], completed.Completed);
        Assert.Equal("input 0 is empty", Assert.Single(await _admin.ListDeadAsync(cancellationToken: Ct)).Error);
    }

    [Fact]
    public async Task FailAsync_PermanentButEnqueuedAgainWhileRunning_RunsTheNewGenerationInsteadOfDying()
    {
        await _queue.EnqueueAsync([Request("1")], Ct);
        var task = Assert.Single(await FetchAsync());
        await _queue.EnqueueAsync([Request("1")], Ct);

        var result = await _queue.FailAsync([new TaskFailure(task, TaskFailureKind.Permanent, "old text was bad")], Ct);

        Assert.Equal([task.Id], result.Retried);
        Assert.Empty(await _admin.ListDeadAsync(cancellationToken: Ct));
        Assert.True(Assert.Single(await FetchAsync()).Generation > task.Generation);
    }

    [Fact]
    public async Task FailAsync_ConfigurationError_PausesTheModelForEveryWorkerWithoutUsingAttempts()
    {
        await _queue.EnqueueAsync([Request("1"), Request("2"), Request("3", model: "model-b")], Ct);
        var task = Assert.Single(await FetchAsync(batch: 1));

        await _queue.FailAsync([new TaskFailure(task, TaskFailureKind.Configuration, "401 invalid api key")], Ct);

        Assert.Empty(await FetchAsync(worker: "another"));
        Assert.Single(await FetchAsync(models: "model-b"));
        var stats = (await _admin.GetStatsAsync(Ct)).Single(s => s.Model == Model);
        Assert.NotNull(stats.PausedUntil);
        Assert.Equal(0, await ScalarAsync<int>($"SELECT attempts FROM {{s}}.embeddingkit_embedding_tasks WHERE id = {task.Id}"));

        Assert.True(await _admin.ResumeModelAsync(Model, Ct));
        Assert.Single(await FetchAsync(worker: "another"));
    }

    [Fact]
    public async Task ReleaseAsync_ClaimedTasks_AreReadyAtOnceWithoutUsingAnAttempt()
    {
        await _queue.EnqueueAsync([Request("1"), Request("2")], Ct);
        var tasks = await FetchAsync();

        Assert.Equal(2, await _queue.ReleaseAsync(tasks, Ct));

        var again = await FetchAsync(worker: "w2");
        Assert.Equal(2, again.Count);
        Assert.All(again, t => Assert.Equal(1, t.Attempts));
    }

    [Fact]
    public async Task ExtendLeaseAsync_OwnAndLostLeases_ExtendsOnlyOwn()
    {
        await _queue.EnqueueAsync([Request("1")], Ct);
        var task = Assert.Single(await FetchAsync());

        Assert.Equal([task.Id], await _queue.ExtendLeaseAsync([task], TimeSpan.FromMinutes(10), Ct));
        var remaining = await ScalarAsync<double>("SELECT extract(epoch FROM run_at - now())::float8 FROM {s}.embeddingkit_embedding_tasks");
        Assert.InRange(remaining, 590, 601);
        Assert.Empty(await _queue.ExtendLeaseAsync([task with { LeaseToken = Guid.NewGuid() }], TimeSpan.FromMinutes(10), Ct));
    }

    [Fact]
    public async Task EnqueueAsync_InCallerTransaction_CommitsAndRollsBackWithTheHostWrite()
    {
        await ExecuteAsync("CREATE TABLE {s}.articles (id text PRIMARY KEY, body text)");
        await using var connection = await DataSource.OpenConnectionAsync(Ct);

        await using (var rolledBack = await connection.BeginTransactionAsync(Ct))
        {
            await using var insert = new NpgsqlCommand($"INSERT INTO \"{Schema}\".articles VALUES ('a1', 'text')", connection, rolledBack);
            await insert.ExecuteNonQueryAsync(Ct);
            await _queue.EnqueueAsync([Request("a1")], connection, rolledBack, Ct);
            await rolledBack.RollbackAsync(Ct);
        }

        Assert.Equal(0L, await ScalarAsync<long>("SELECT count(*) FROM {s}.embeddingkit_embedding_tasks"));

        await using (var committed = await connection.BeginTransactionAsync(Ct))
        {
            await using var insert = new NpgsqlCommand($"INSERT INTO \"{Schema}\".articles VALUES ('a2', 'text')", connection, committed);
            await insert.ExecuteNonQueryAsync(Ct);
            await _queue.EnqueueAsync([Request("a2")], connection, committed, Ct);
            await committed.CommitAsync(Ct);
        }

        Assert.Equal("a2", Assert.Single(await FetchAsync()).EntityId);
    }

    [Fact]
    public async Task EnqueueAsync_AfterCommit_NotifiesListeners()
    {
        await using var listener = await DataSource.OpenConnectionAsync(Ct);
        var notified = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        listener.Notification += (_, e) => notified.TrySetResult(e.Channel);
        await using (var listen = new NpgsqlCommand($"LISTEN {_queue.NotificationChannel}", listener))
        {
            await listen.ExecuteNonQueryAsync(Ct);
        }

        await _queue.EnqueueAsync([Request("1")], Ct);
        await listener.WaitAsync(TimeSpan.FromSeconds(30), Ct);

        Assert.Equal(_queue.NotificationChannel, await notified.Task.WaitAsync(TimeSpan.FromSeconds(30), Ct));
    }

    [Fact]
    public async Task GetStatsAsync_MixedStates_CountsEachStateAndDeadPerModel()
    {
        await _queue.EnqueueAsync([Request("ready"), Request("run"), Request("later") with { Delay = TimeSpan.FromHours(1) }, Request("dead"), Request("x", model: "model-b")], Ct);
        var tasks = await FetchAsync(batch: 2);
        var dead = tasks.Single(t => t.EntityId == "dead");
        await _queue.FailAsync([new TaskFailure(dead, TaskFailureKind.Permanent, "bad")], Ct);

        var stats = await _admin.GetStatsAsync(Ct);

        var a = stats.Single(s => s.Model == Model);
        Assert.Equal(1, a.Ready);
        Assert.Equal(1, a.Running);
        Assert.Equal(1, a.Scheduled);
        Assert.Equal(1, a.Dead);
        Assert.NotNull(a.OldestAge);
        Assert.Equal(1, stats.Single(s => s.Model == "model-b").Ready);
        Assert.Equal(3L, await _admin.CountOutstandingAsync([Model], Ct));
    }

    [Fact]
    public async Task DeleteModelTasksAsync_RetiringOneModel_LeavesOtherModelsAlone()
    {
        await _queue.EnqueueAsync([Request("1"), Request("2", model: "model-b")], Ct);

        Assert.Equal(1, await _admin.DeleteModelTasksAsync(Model, Ct));

        Assert.Equal("model-b", await ScalarAsync<string>("SELECT model FROM {s}.embeddingkit_embedding_tasks"));
    }

    [Fact]
    public async Task CancelAsync_RunningTask_DeletesItAndRefusesTheWorkersComplete()
    {
        await _queue.EnqueueAsync([Request("1")], Ct);
        var task = Assert.Single(await FetchAsync());

        Assert.Equal(1, await _admin.CancelAsync([task.Key], Ct));

        Assert.Equal([task.Id], (await _queue.CompleteAsync([task], Ct)).LeaseLost);
    }

    [Fact]
    public async Task DrainOnceAsync_HandlerCompletesSomeAndFailsOthers_AppliesBothInOneCycle()
    {
        await _queue.EnqueueAsync([Request("ok"), Request("bad")], Ct);
        var handler = new DelegateHandler([Model], tasks => new TaskBatchOutcome(
            [.. tasks.Where(t => t.EntityId == "ok")],
            [.. tasks.Where(t => t.EntityId == "bad").Select(t => new TaskFailure(t, TaskFailureKind.Permanent, "nope"))]));

        var result = await _queue.DrainOnceAsync(handler, cancellationToken: Ct);
        var idle = await _queue.DrainOnceAsync(handler, cancellationToken: Ct);

        Assert.Equal(2, result.Claimed);
        Assert.Single(result.Completion.Completed);
        Assert.Single(result.Failure.Dead);
        Assert.Equal(0, idle.Claimed);
    }

    [Fact]
    public async Task DrainOnceAsync_CancelledWhileHandling_ReleasesClaimedTasksAtOnce()
    {
        await _queue.EnqueueAsync([Request("1")], Ct);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var handler = new DelegateHandler([Model], _ =>
        {
            cts.Cancel();
            cts.Token.ThrowIfCancellationRequested();
            return null!;
        });

        var result = await _queue.DrainOnceAsync(handler, cancellationToken: cts.Token);

        Assert.Equal(1, result.Released);
        var again = Assert.Single(await FetchAsync());
        Assert.Equal(1, again.Attempts);
    }

    private sealed class DelegateHandler(IReadOnlyCollection<string> models, Func<IReadOnlyList<EmbeddingTask>, TaskBatchOutcome> handle) : IEmbeddingTaskHandler
    {
        public IReadOnlyCollection<string> Models => models;

        public ValueTask<TaskBatchOutcome> HandleAsync(IReadOnlyList<EmbeddingTask> tasks, CancellationToken cancellationToken = default) =>
            ValueTask.FromResult(handle(tasks));
    }
}
