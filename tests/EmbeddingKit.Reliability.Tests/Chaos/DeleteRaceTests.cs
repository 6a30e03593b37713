using EmbeddingKit.Postgres.Rollout;
using EmbeddingKit.Reliability.Tests.Infrastructure;
using EmbeddingKit.Runtime;
using EmbeddingKit.Storage;
using EmbeddingKit.Tasks;
using EmbeddingKit.TestInfrastructure.Postgres;
using Microsoft.Extensions.AI;

namespace EmbeddingKit.Reliability.Tests.Chaos;

/// <summary>
/// "A stale worker never wins", tried with the delete: a worker frozen after its provider call (GC pause, VM freeze,
/// SIGSTOP) while the entity is deleted, its task cancelled or its model retired must not write a vector when it resumes.
/// The freeze is a gate in the generator, so the interleaving is exact; the lease expiry is forced in SQL.
/// </summary>
public sealed class DeleteRaceTests(PostgresServer server)
{
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(30);

    // Only a guard against a hang when the behaviour is broken.
    private static readonly TimeSpan Guard = TimeSpan.FromSeconds(60);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Upsert_FrozenWorkerResumesAfterDeleteAndReenqueue_DoesNotResurrectTheVector()
    {
        await using var stack = await FaultStack.CreateAsync(server, cancellationToken: Ct);
        await stack.SeedAsync(1, cancellationToken: Ct);
        var (frozen, gate) = StartFrozenWorker(stack);
        await gate.Entered.Task.WaitAsync(Guard, Ct);

        // A's lease runs out; the entity is deleted and enqueued again (G2); worker B finds it gone, deletes, completes.
        await stack.CountAsync("UPDATE {tasks} SET run_at = now() - interval '1 second' RETURNING 1", Ct);
        stack.Documents.Texts.Clear();
        await stack.PostgresQueue.EnqueueAsync([new EnqueueRequest(FaultStack.EntityType, "d0", FaultStack.Model)], Ct);
        var rescuer = await EmbeddingTaskDrain.RunOnceAsync(stack.Queue, stack.Runtime, 10, "B", Lease, cancellationToken: Ct);
        Assert.Single(rescuer.Completion.Completed);

        // A resumes and tries to store its vector of generation 1.
        gate.Release.SetResult();
        var stale = await frozen.WaitAsync(Guard, Ct);

        Assert.Equal(0, await stack.CountAsync("SELECT count(*) FROM {vectors}", Ct));
        Assert.Empty(stale.Completion.Completed);
        Assert.Equal(0, await stack.CountAsync("SELECT count(*) FROM {tasks}", Ct));
    }

    [Fact]
    public async Task Upsert_FrozenWorkerResumesAfterCancel_WritesNothing()
    {
        await using var stack = await FaultStack.CreateAsync(server, cancellationToken: Ct);
        await stack.SeedAsync(1, cancellationToken: Ct);
        var (frozen, gate) = StartFrozenWorker(stack);
        await gate.Entered.Task.WaitAsync(Guard, Ct);

        Assert.Equal(1, await stack.PostgresQueueAdmin.CancelAsync([new(FaultStack.EntityType, "d0", FaultStack.Model)], Ct));
        gate.Release.SetResult();
        var stale = await frozen.WaitAsync(Guard, Ct);

        Assert.Equal(0, await stack.CountAsync("SELECT count(*) FROM {vectors}", Ct));
        Assert.Empty(stale.Completion.Completed);
    }

    [Fact]
    public async Task RetireModelAsync_WorkerStillHoldsATaskOfTheModel_WritesNoOrphanAfterwards()
    {
        await using var stack = await FaultStack.CreateAsync(server, cancellationToken: Ct);
        await stack.SeedAsync(3, cancellationToken: Ct);
        var (frozen, gate) = StartFrozenWorker(stack);
        await gate.Entered.Task.WaitAsync(Guard, Ct);

        var rollout = new EmbeddingRollout(stack.DataSource, stack.Schema, stack.Storage, stack.PostgresQueue);
        var (_, tasks) = await rollout.RetireModelAsync(FaultStack.Model, force: true, Ct);
        gate.Release.SetResult();
        await frozen.WaitAsync(Guard, Ct);

        Assert.Equal(3, tasks);
        Assert.Equal(0, await stack.CountAsync("SELECT count(*) FROM {vectors}", Ct));
        Assert.Equal(0, await stack.CountAsync("SELECT count(*) FROM {tasks}", Ct));
    }

    [Fact]
    public async Task Drain_EntityEditedToEmptyText_StopsBeingFoundAndDiesWithTheReason()
    {
        await using var stack = await FaultStack.CreateAsync(server, cancellationToken: Ct);
        await stack.SeedAsync(2, cancellationToken: Ct);
        Assert.True(await stack.DrainAsync(Guard, Ct));
        Assert.Equal(2, await stack.CountAsync("SELECT count(*) FROM {vectors}", Ct));

        stack.Documents.Texts["d0"] = "   ";
        await stack.PostgresQueue.EnqueueAsync([new EnqueueRequest(FaultStack.EntityType, "d0", FaultStack.Model)], Ct);
        Assert.True(await stack.DrainAsync(Guard, Ct));

        Assert.Equal(0, await stack.CountAsync("SELECT count(*) FROM {vectors} WHERE entity_id = 'd0'", Ct));
        Assert.Equal(1, await stack.CountAsync("SELECT count(*) FROM {vectors} WHERE entity_id = 'd1'", Ct));
        var error = Assert.Single(await stack.TextsAsync("SELECT error FROM {dead}", Ct));
        Assert.Contains("empty", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunOnceAsync_StorageWritesFewerRowsThanAsked_TheUnwrittenTaskIsNotCompleted()
    {
        await using var stack = await FaultStack.CreateAsync(server, cancellationToken: Ct);
        await stack.SeedAsync(3, cancellationToken: Ct);
        var lossy = new DroppingStorage(stack.Storage, "d2");
        var registry = new EmbeddingModelRegistry(new EmbeddingModel(FaultStack.Model, FaultStack.Dimensions, stack.Generator));
        var runtime = new EmbeddingRuntime(registry, stack.Documents, lossy, stack.Queue);

        var result = await EmbeddingTaskDrain.RunOnceAsync(stack.Queue, runtime, 10, "lossy", Lease, cancellationToken: Ct);

        Assert.Equal(2, result.Completion.Completed.Count);
        Assert.Single(result.Failure.Retried);
        Assert.Equal(2, await stack.CountAsync("SELECT count(*) FROM {vectors}", Ct));
        Assert.Equal(1, await stack.CountAsync("SELECT count(*) FROM {tasks} WHERE entity_id = 'd2'", Ct));
    }

    /// <summary>Worker A: claims every task, calls the provider, then freezes (before storing) until released.</summary>
    private static (Task<DrainResult> Run, Gate Gate) StartFrozenWorker(FaultStack stack)
    {
        var gate = new Gate();
        var registry = new EmbeddingModelRegistry(new EmbeddingModel(FaultStack.Model, FaultStack.Dimensions, new FreezingGenerator(stack.Generator, gate)));
        var runtime = new EmbeddingRuntime(registry, stack.Documents, stack.Storage, stack.Queue);
        var run = EmbeddingTaskDrain.RunOnceAsync(stack.Queue, runtime, 10, "A", Lease, cancellationToken: Ct);
        return (run, gate);
    }

    private sealed class Gate
    {
        public TaskCompletionSource Entered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>Lets the provider answer, then holds the answer until the gate opens: a worker frozen between its
    /// provider call and its write.</summary>
    private sealed class FreezingGenerator(IEmbeddingGenerator<string, Embedding<float>> inner, Gate gate)
        : DelegatingEmbeddingGenerator<string, Embedding<float>>(inner)
    {
        public override async Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(
            IEnumerable<string> values, EmbeddingGenerationOptions? options = null, CancellationToken cancellationToken = default)
        {
            var embeddings = await base.GenerateAsync(values, options, cancellationToken);
            gate.Entered.TrySetResult();
            await gate.Release.Task.WaitAsync(cancellationToken);
            return embeddings;
        }
    }

    /// <summary>A custom storage with a bug: it silently drops one entity's vector and reports what it wrote.</summary>
    private sealed class DroppingStorage(IEmbeddingStorage inner, string droppedId) : IEmbeddingStorage
    {
        public ValueTask<IReadOnlyDictionary<string, StoredEmbeddingState>> GetStatesAsync(string entityType, string model, IReadOnlyCollection<string> entityIds, CancellationToken cancellationToken = default) =>
            inner.GetStatesAsync(entityType, model, entityIds, cancellationToken);

        public ValueTask<int> UpsertAsync(IReadOnlyList<EmbeddingRecord> records, CancellationToken cancellationToken = default) =>
            inner.UpsertAsync([.. records.Where(r => r.Key.EntityId != droppedId)], cancellationToken);

        public ValueTask<int> TouchAsync(IReadOnlyList<(EmbeddingTaskKey Key, long Generation)> keys, CancellationToken cancellationToken = default) =>
            inner.TouchAsync(keys, cancellationToken);

        public ValueTask<int> DeleteAsync(IReadOnlyList<(EmbeddingTaskKey Key, long Generation)> keys, CancellationToken cancellationToken = default) =>
            inner.DeleteAsync(keys, cancellationToken);
    }
}
