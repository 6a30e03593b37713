using System.ClientModel;
using System.ClientModel.Primitives;
using EmbeddingKit.Reliability.Tests.Infrastructure;
using EmbeddingKit.Tasks;
using EmbeddingKit.TestInfrastructure.FakeProvider;
using EmbeddingKit.TestInfrastructure.Postgres;
using Microsoft.Extensions.AI;
using OpenAI;
using OpenAI.Embeddings;

namespace EmbeddingKit.Reliability.Tests.Faults;

/// <summary>
/// Issue 12, items 9-13, on the real queue and storage with the fake provider: a provider error fails only the tasks it
/// is about, a request-level rejection pauses the model (with the provider's message) instead of dead-lettering the
/// batch, and a long Retry-After pauses the model until then.
/// </summary>
public sealed class ProviderErrorIsolationTests(PostgresServer server)
{
    private const int Batch = 64;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Drain_RequestLevel400_AtMostThreeCallsNoDeadModelPausedWithProviderMessage(bool namesParam)
    {
        // namesParam: OpenAI-style error.param = "dimensions" (known at once); otherwise a vague message that only the
        // same error on two disjoint halves reveals.
        var message = namesParam ? "Unsupported parameter: 'dimensions' is not supported with this model." : "Invalid request (code 17).";
        // Timeouts are not what this counts: a loaded machine must not turn a slow answer into a retried request.
        await using var stack = await FaultStack.CreateAsync(
            server,
            o =>
            {
                o.MaxInputsPerRequest = Batch;
                o.RequestTimeout = TimeSpan.FromSeconds(30);
                o.TotalTimeout = TimeSpan.FromSeconds(60);
            },
            batchSize: Batch,
            cancellationToken: Ct);
        stack.Provider.RejectedField = "dimensions";
        stack.Provider.RejectedFieldMessage = message;
        stack.Provider.RejectedFieldNamesParam = namesParam;
        await stack.SeedAsync(Batch, cancellationToken: Ct);

        var result = await EmbeddingTaskDrain.RunOnceAsync(stack.Queue, stack.Runtime, Batch, "w", TimeSpan.FromSeconds(30), cancellationToken: Ct);

        var stats = Assert.Single(await stack.PostgresQueueAdmin.GetStatsAsync(Ct));
        Assert.Equal(Batch, result.Claimed);
        Assert.InRange(stack.Provider.RequestCount, 1, 3);
        Assert.Equal(0, await stack.CountAsync("SELECT count(*) FROM {dead}", Ct));
        Assert.Equal(Batch, stats.Outstanding);
        Assert.All(stack.Queue.Failures, f => Assert.Equal(TaskFailureKind.Configuration, f.Kind));
        Assert.NotNull(stats.PausedUntil);
        Assert.Contains(message, stats.PauseReason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Drain_OneInputRejectedWithoutIndex_OnlyThatTaskDead()
    {
        // The provider names no input and says nothing about the request: bisection still finds the one bad input,
        // because the two halves do not fail alike.
        await using var stack = await FaultStack.CreateAsync(server, o => o.MaxInputsPerRequest = Batch, batchSize: Batch, cancellationToken: Ct);
        stack.Provider.RejectedInputMarker = "FORBIDDEN";
        await stack.SeedAsync(16, i => i == 5 ? "FORBIDDEN document" : $"document {i}", Ct);

        await EmbeddingTaskDrain.RunOnceAsync(stack.Queue, stack.Runtime, Batch, "w", TimeSpan.FromSeconds(30), cancellationToken: Ct);

        Assert.Equal(["d5"], await stack.TextsAsync("SELECT entity_id FROM {dead}", Ct));
        Assert.Equal(15, await stack.CountAsync("SELECT count(*) FROM {vectors}", Ct));
    }

    [Theory]
    [InlineData(FakeFault.NaN)]
    [InlineData(FakeFault.ZeroVector)]
    public async Task Drain_OneUnusableVectorInResponse_OthersStoredOnlyThatTaskDeadWithIndex(FakeFault fault)
    {
        await using var stack = await FaultStack.CreateAsync(server, cancellationToken: Ct);
        await stack.SeedAsync(10, cancellationToken: Ct);
        stack.Provider.InjectFault(fault);

        await EmbeddingTaskDrain.RunOnceAsync(stack.Queue, stack.Runtime, 10, "w", TimeSpan.FromSeconds(30), cancellationToken: Ct);

        var failure = Assert.Single(stack.Queue.Failures);
        Assert.Equal(TaskFailureKind.Permanent, failure.Kind);
        Assert.Contains("input 0", failure.Error, StringComparison.Ordinal);
        Assert.Equal(1, stack.Provider.RequestCount);
        Assert.Equal(9, await stack.CountAsync("SELECT count(*) FROM {vectors}", Ct));
        Assert.Equal([failure.Task.EntityId], await stack.TextsAsync("SELECT entity_id FROM {dead}", Ct));
        Assert.Equal(0, await stack.CountAsync("SELECT count(*) FROM {tasks}", Ct));
    }

    [Fact]
    public async Task Drain_RetryAfterBeyondQueueCap_OneRequestModelPausedUntilThen()
    {
        // The client sleeps at most 1 s itself and the queue defers at most 2 s (FaultStack); the provider asks for an hour.
        await using var stack = await FaultStack.CreateAsync(server, cancellationToken: Ct);
        stack.Provider.RetryAfterValue = "3600";
        stack.Provider.SetFaultRate(FakeFault.RateLimited, 1);
        await stack.SeedAsync(10, cancellationToken: Ct);

        await EmbeddingTaskDrain.RunOnceAsync(stack.Queue, stack.Runtime, 10, "w", TimeSpan.FromSeconds(30), cancellationToken: Ct);
        var again = await EmbeddingTaskDrain.RunOnceAsync(stack.Queue, stack.Runtime, 10, "w", TimeSpan.FromSeconds(30), cancellationToken: Ct);

        var stats = Assert.Single(await stack.PostgresQueueAdmin.GetStatsAsync(Ct));
        Assert.Equal(1, stack.Provider.RequestCount);
        Assert.Equal(0, again.Claimed);
        Assert.Equal(TimeSpan.FromHours(1), Assert.Single(stack.Queue.Failures.Select(f => f.RetryAfter).Distinct()));
        Assert.NotNull(stats.PausedUntil);
        Assert.InRange(stats.PausedUntil!.Value - DateTimeOffset.UtcNow, TimeSpan.FromMinutes(55), TimeSpan.FromMinutes(65));
        Assert.Contains("01:00:00", stats.PauseReason, StringComparison.Ordinal);
        Assert.Equal(0, stats.Dead);
        Assert.Equal(10, stats.Scheduled);
        Assert.Equal(0, await stack.CountAsync("SELECT count(*) FROM {tasks} WHERE attempts > 0", Ct));
    }

    [Fact]
    public async Task Drain_RetryAfterWithinQueueCap_DeferredNotPaused()
    {
        await using var stack = await FaultStack.CreateAsync(server, cancellationToken: Ct);
        stack.Provider.RetryAfterValue = "2";
        stack.Provider.InjectFault(FakeFault.RateLimited);
        await stack.SeedAsync(10, cancellationToken: Ct);

        await EmbeddingTaskDrain.RunOnceAsync(stack.Queue, stack.Runtime, 10, "w", TimeSpan.FromSeconds(30), cancellationToken: Ct);

        var stats = Assert.Single(await stack.PostgresQueueAdmin.GetStatsAsync(Ct));
        Assert.All(stack.Queue.Failures, f => Assert.Equal(TaskFailureKind.RateLimited, f.Kind));
        Assert.Null(stats.PausedUntil);
        Assert.Equal(10, stats.Scheduled);
    }

    public static TheoryData<FakeFault, TaskFailureKind> MeaiFaults => new()
    {
        { FakeFault.Unauthorized, TaskFailureKind.Configuration },
        { FakeFault.NotFound, TaskFailureKind.Configuration },
        { FakeFault.RateLimited, TaskFailureKind.RateLimited },
        { FakeFault.InternalServerError, TaskFailureKind.Retryable },
    };

    [Theory]
    [MemberData(nameof(MeaiFaults))]
    public async Task Drain_MeaiOpenAIClientFault_ClassifiedByHttpStatus(FakeFault fault, TaskFailureKind expected)
    {
        await using var stack = await FaultStack.CreateAsync(server, cancellationToken: Ct, generator: Meai);
        stack.Provider.RetryAfterValue = "1";
        stack.Provider.SetFaultRate(fault, 1);
        await stack.SeedAsync(10, cancellationToken: Ct);

        await EmbeddingTaskDrain.RunOnceAsync(stack.Queue, stack.Runtime, 10, "w", TimeSpan.FromSeconds(30), cancellationToken: Ct);

        Assert.Equal(10, stack.Queue.Failures.Count);
        Assert.All(stack.Queue.Failures, f => Assert.Equal(expected, f.Kind));
        if (expected == TaskFailureKind.RateLimited)
        {
            Assert.All(stack.Queue.Failures, f => Assert.Equal(TimeSpan.FromSeconds(1), f.RetryAfter));
        }

        Assert.Equal(0, await stack.CountAsync("SELECT count(*) FROM {dead}", Ct));
    }

    [Fact]
    public async Task Drain_MeaiOpenAIClientOneInputRejected_OnlyThatTaskDead()
    {
        await using var stack = await FaultStack.CreateAsync(server, cancellationToken: Ct, generator: Meai);
        stack.Provider.RejectedInputMarker = "FORBIDDEN";
        await stack.SeedAsync(10, i => i == 3 ? "FORBIDDEN document" : $"document {i}", Ct);

        await EmbeddingTaskDrain.RunOnceAsync(stack.Queue, stack.Runtime, 10, "w", TimeSpan.FromSeconds(30), cancellationToken: Ct);

        Assert.Equal(["d3"], await stack.TextsAsync("SELECT entity_id FROM {dead}", Ct));
        Assert.Equal(9, await stack.CountAsync("SELECT count(*) FROM {vectors}", Ct));
    }

    [Fact]
    public async Task Drain_MeaiOpenAIClientRequestRejected_AtMostThreeCallsModelPaused()
    {
        // The M.E.AI client always sends encoding_format; a provider that refuses it rejects every request alike.
        await using var stack = await FaultStack.CreateAsync(server, cancellationToken: Ct, batchSize: Batch, generator: Meai);
        stack.Provider.RejectedField = "encoding_format";
        await stack.SeedAsync(Batch, cancellationToken: Ct);

        await EmbeddingTaskDrain.RunOnceAsync(stack.Queue, stack.Runtime, Batch, "w", TimeSpan.FromSeconds(30), cancellationToken: Ct);

        var stats = Assert.Single(await stack.PostgresQueueAdmin.GetStatsAsync(Ct));
        Assert.InRange(stack.Provider.RequestCount, 1, 3);
        Assert.Equal(0, stats.Dead);
        Assert.NotNull(stats.PausedUntil);
        Assert.Contains("encoding_format", stats.PauseReason, StringComparison.Ordinal);
    }

    /// <summary>The real Microsoft.Extensions.AI.OpenAI client (OpenAI SDK 2.15) against the fake provider, with the
    /// SDK's own retries off so that each fault reaches the runtime once.</summary>
    private static IEmbeddingGenerator<string, Embedding<float>> Meai(FakeEmbeddingServer provider) =>
        new EmbeddingClient(FaultStack.Model, new ApiKeyCredential(FaultStack.ApiKey), new OpenAIClientOptions
        {
            Endpoint = provider.BaseUrl,
            RetryPolicy = new ClientRetryPolicy(maxRetries: 0),
        }).AsIEmbeddingGenerator(FaultStack.Dimensions);
}
