using EmbeddingKit.Reliability.Tests.Infrastructure;
using EmbeddingKit.TestInfrastructure.FakeProvider;
using EmbeddingKit.TestInfrastructure.Postgres;
using Microsoft.Extensions.AI;

namespace EmbeddingKit.Reliability.Tests.Secrets;

/// <summary>
/// After runs with faults, including a provider that echoes the presented key in its 401 message (as some do), the
/// API key appears nowhere: Trace logs, exception messages and ToString(), task errors in the database, CLI output
/// (--json and --verbose).
/// </summary>
public sealed class SecretScanTests(PostgresServer server)
{
    [Fact]
    public async Task ApiKey_AfterRunsWithFaults_AppearsInNoLogExceptionDatabaseOrCliOutput()
    {
        var ct = TestContext.Current.CancellationToken;
        var scanned = new List<(string Where, string Text)>();

        // In process: a 401 that echoes the key, then 20% faults of several kinds.
        await using (var stack = await FaultStack.CreateAsync(server, cancellationToken: ct))
        {
            await stack.SeedAsync(60, cancellationToken: ct);
            stack.Provider.RequiredApiKey = "sk-the-right-key";
            try
            {
                await stack.Generator.GenerateAsync(["probe"], cancellationToken: ct);
                Assert.Fail("the provider accepted a wrong key");
            }
            catch (EmbeddingKitException e)
            {
                scanned.Add(("exception message", e.Message));
                scanned.Add(("exception ToString()", e.ToString()));
                scanned.Add(("exception data", string.Join(", ", e.Data.Keys.Cast<object>().Select(k => $"{k}={e.Data[k]}"))));
            }

            await EmbeddingKit.Tasks.EmbeddingTaskDrain.RunOnceAsync(stack.Queue, stack.Runtime, 40, "secret-test", TimeSpan.FromSeconds(30), cancellationToken: ct);
            scanned.AddRange((await stack.TextsAsync("SELECT last_error FROM {tasks}", ct)).Select(t => ("task last_error", t)));
            stack.Provider.RequiredApiKey = null;
            foreach (var fault in new[] { FakeFault.InternalServerError, FakeFault.HtmlErrorPage, FakeFault.MalformedJson, FakeFault.Redirect, FakeFault.BadRequest })
            {
                stack.Provider.InjectFault(fault, 2);
            }

            await stack.PostgresQueueAdmin.ResumeModelAsync(FaultStack.Model, ct);
            Assert.True(await stack.DrainAsync(TimeSpan.FromSeconds(60), ct));
            scanned.AddRange((await stack.TextsAsync("SELECT error FROM {dead}", ct)).Select(t => ("dead error", t)));
            scanned.AddRange(stack.Queue.Failures.Select(f => ("task failure", f.Error)));
            scanned.AddRange(stack.Logs.Lines.Select(l => ("log", l)));
            scanned.Add(("generator ToString()", stack.Generator.ToString() ?? ""));
            Assert.Contains(stack.Queue.Failures, f => f.Error.Contains("401", StringComparison.Ordinal));
        }

        // The CLI, with --verbose (stack traces, debug logs) and --json, against a provider refusing the key.
        await using (var schema = await ChaosSchema.CreateAsync(await server.GetConnectionStringAsync(ct), ct))
        {
            await schema.SeedAsync(10, ct);
            schema.Provider.RequiredApiKey = "sk-the-right-key";
            await using var work = schema.StartWorker("work", untilIdle: true, json: true, extra: ["--verbose"]);
            var exit = await work.WaitForExitAsync(TimeSpan.FromSeconds(90));
            Assert.NotEqual(0, exit);
            scanned.Add(("cli work stdout", work.Output));
            scanned.Add(("cli work stderr", work.Error));
            await using var status = WorkerProcess.Start("status", ["status", "--json", "--verbose", .. schema.CommonArguments()]);
            Assert.Equal(0, await status.WaitForExitAsync(TimeSpan.FromSeconds(60)));
            scanned.Add(("cli status stdout", status.Output));
            scanned.Add(("cli status stderr", status.Error));
            Assert.Contains("401", work.Error + work.Output, StringComparison.Ordinal);
        }

        var leaks = scanned.Where(s => s.Text.Contains(FaultStack.ApiKey, StringComparison.Ordinal) || s.Text.Contains(ChaosSchema.ApiKey, StringComparison.Ordinal)).ToList();
        Figures.Report(nameof(ApiKey_AfterRunsWithFaults_AppearsInNoLogExceptionDatabaseOrCliOutput), new
        {
            texts_scanned = scanned.Count,
            characters_scanned = scanned.Sum(s => s.Text.Length),
            log_lines = scanned.Count(s => s.Where == "log"),
            leaks = leaks.Select(l => l.Where).Distinct().ToList(),
        });
        Assert.True(leaks.Count == 0, "the API key leaked into: " + string.Join("; ", leaks.Select(l => $"{l.Where}: {l.Text[..Math.Min(300, l.Text.Length)]}")));
        Assert.True(scanned.Count(s => s.Where == "log") > 10, "too few log lines captured to prove anything");
    }
}
