using EmbeddingKit.Reliability.Tests.Infrastructure;
using EmbeddingKit.Tasks;
using EmbeddingKit.TestInfrastructure.FakeProvider;
using EmbeddingKit.TestInfrastructure.Postgres;

namespace EmbeddingKit.Reliability.Tests.Faults;

/// <summary>
/// Each provider fault at a 20% rate while 200 tasks drain: every task ends completed or dead with a precise error,
/// requests per task stay bounded (no retry storm), and rate limits defer without using attempts.
/// </summary>
public sealed class ProviderFaultTests(PostgresServer server)
{
    private const int Tasks = 200;

    public static TheoryData<FakeFault> Faults =>
    [
        FakeFault.RateLimited, FakeFault.InternalServerError, FakeFault.ServiceUnavailable, FakeFault.ConnectionReset,
        FakeFault.Hang, FakeFault.TruncatedJson, FakeFault.MalformedJson, FakeFault.HtmlErrorPage,
        FakeFault.WrongDimensions, FakeFault.NaN, FakeFault.FewerItems, FakeFault.ShuffledIndexes,
    ];

    [Theory]
    [MemberData(nameof(Faults))]
    public async Task Drain_FaultAtTwentyPercent_EveryTaskCompletedOrDeadWithBoundedRequests(FakeFault fault)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var stack = await FaultStack.CreateAsync(server, cancellationToken: ct);
        await stack.SeedAsync(Tasks, cancellationToken: ct);
        stack.Provider.RetryAfterValue = "1";
        stack.Provider.SetFaultRate(fault, 0.2);

        var drained = await stack.DrainAsync(TimeSpan.FromSeconds(120), ct);
        var vectors = await stack.CountAsync("SELECT count(*) FROM {vectors}", ct);
        var dead = await stack.CountAsync("SELECT count(*) FROM {dead}", ct);
        var deadErrors = await stack.TextsAsync("SELECT error FROM {dead}", ct);
        var failures = stack.Queue.Failures.ToList();
        var claims = stack.Queue.ClaimsPerEntity.Values.ToList();
        var requests = stack.Provider.RequestCount;
        var minimalRequests = Tasks / 10;
        Figures.Report($"{nameof(Drain_FaultAtTwentyPercent_EveryTaskCompletedOrDeadWithBoundedRequests)}({fault})", new
        {
            fault = fault.ToString(),
            tasks = Tasks,
            completed = vectors,
            dead,
            claims_per_task_mean = Math.Round(claims.Average(), 3),
            claims_per_task_max = claims.Max(),
            highest_attempt = stack.Queue.HighestAttemptPerEntity.Values.Max(),
            failures_by_kind = failures.GroupBy(f => f.Kind.ToString()).ToDictionary(g => g.Key, g => g.Count()),
            sample_error = failures.Select(f => f.Error).FirstOrDefault(),
            provider_requests = requests,
            requests_per_task = Math.Round((double)requests / Tasks, 3),
        });

        Assert.True(drained, $"{fault}: not drained");
        Assert.Equal(Tasks, vectors + dead);
        Assert.All(deadErrors, e => Assert.False(string.IsNullOrWhiteSpace(e)));
        Assert.All(failures, f => Assert.Contains("'m'", f.Error + " '" + FaultStack.Model + "'", StringComparison.Ordinal));

        // No retry storm: at most 2 HTTP attempts per provider call, and few calls beyond the minimum.
        Assert.InRange(requests, minimalRequests, minimalRequests * 6);
        Assert.True(claims.Max() <= 6, $"a task was claimed {claims.Max()} times");
        if (fault == FakeFault.RateLimited)
        {
            // Rate limits that reach the queue are deferrals: the attempt is given back, so none is ever above 1.
            Assert.Contains(failures, f => f.Kind == TaskFailureKind.RateLimited);
            Assert.All(failures, f => Assert.Equal(TaskFailureKind.RateLimited, f.Kind));
            Assert.Equal(1, stack.Queue.HighestAttemptPerEntity.Values.Max());
            Assert.Equal(0, dead);
        }

        if (fault == FakeFault.ShuffledIndexes)
        {
            // Out-of-order items are valid: nothing fails.
            Assert.Empty(failures);
        }
        else
        {
            Assert.NotEmpty(failures);
        }
    }
}
