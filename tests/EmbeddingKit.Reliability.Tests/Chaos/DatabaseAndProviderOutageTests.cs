using System.Diagnostics;
using EmbeddingKit.Reliability.Tests.Infrastructure;
using EmbeddingKit.TestInfrastructure.FakeProvider;
using EmbeddingKit.TestInfrastructure.Postgres;
using Npgsql;

namespace EmbeddingKit.Reliability.Tests.Chaos;

/// <summary>
/// Worker processes behind a fault-injecting TCP proxy, on their own PostgreSQL cluster, with a pool smaller than
/// their loop count: connections cut, traffic black-holed, PostgreSQL restarted, the provider gone for 30 s. They
/// reconnect with backoff and finish; nothing lost or stuck. Workers started while PostgreSQL is down wait for it.
/// </summary>
public sealed class DatabaseAndProviderOutageTests
{
    private const int Documents = 3_000;

    [Fact]
    public async Task Work_PostgresRestartedConnectionsCutProviderGone_WorkersReconnectAndFinish()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await StartClusterAsync(ct);

        var upstream = new NpgsqlConnectionStringBuilder(cluster.ConnectionString);
        await using var proxy = new TcpFaultProxy(upstream.Port);
        await using var schema = await ChaosSchema.CreateAsync(cluster.ConnectionString, ct);
        await schema.SeedAsync(Documents, ct);

        // Workers go through the proxy, fail fast on dead sockets, and get 2 pooled connections for 4 loops (plus the
        // heartbeats and the LISTEN connection).
        schema.ConnectionString = new NpgsqlConnectionStringBuilder(schema.ConnectionString)
        {
            Port = proxy.Port,
            MaxPoolSize = 2,
            Timeout = 3,
            CommandTimeout = 5,
            KeepAlive = 1,
        }.ConnectionString;
        schema.Provider.Latency = TimeSpan.FromMilliseconds(250);
        schema.Provider.ResetCounters();
        var workers = Enumerable.Range(0, 3).Select(i => schema.StartWorker($"worker-{i}", concurrency: 4)).ToList();
        var watch = Stopwatch.StartNew();
        var events = new List<string>();
        try
        {
            // Faults start once the workers are working (past start-up; start-up itself is covered below).
            for (var i = 0; i < 600 && schema.Provider.RequestCount == 0 && !workers.All(w => w.HasExited); i++)
            {
                await Task.Delay(100, ct);
            }

            events.Add($"{watch.Elapsed.TotalSeconds:N1}s working");
            await Task.Delay(TimeSpan.FromSeconds(1), ct);
            events.Add($"{watch.Elapsed.TotalSeconds:N1}s cut {proxy.CutAll()} connections");

            await Task.Delay(TimeSpan.FromSeconds(2), ct);
            proxy.BlackHole = true;
            events.Add($"{watch.Elapsed.TotalSeconds:N1}s black hole on");
            await Task.Delay(TimeSpan.FromSeconds(6), ct);
            proxy.BlackHole = false;
            events.Add($"{watch.Elapsed.TotalSeconds:N1}s black hole off, cut {proxy.CutAll()} connections");

            await Task.Delay(TimeSpan.FromSeconds(2), ct);
            await PostgresCluster.RunScriptAsync(["stop", cluster.DataDirectory], ct);
            events.Add($"{watch.Elapsed.TotalSeconds:N1}s PostgreSQL stopped");
            await Task.Delay(TimeSpan.FromSeconds(4), ct);
            await PostgresCluster.RunScriptAsync(["start", cluster.DataDirectory], ct);
            events.Add($"{watch.Elapsed.TotalSeconds:N1}s PostgreSQL started");

            // The provider goes away (every request reset) for 30 s: the generator's retries run out, tasks fail as
            // retryable with backoff, the loops back off; attempts must last the outage (none dead).
            await Task.Delay(TimeSpan.FromSeconds(2), ct);
            var outstandingAtOutage = await schema.OutstandingAsync(ct);
            var requestsBeforeOutage = schema.Provider.RequestCount;
            schema.Provider.SetFaultRate(FakeFault.ConnectionReset, 1);
            events.Add($"{watch.Elapsed.TotalSeconds:N1}s provider gone ({outstandingAtOutage} outstanding)");
            await Task.Delay(TimeSpan.FromSeconds(30), ct);
            var requestsDuringOutage = schema.Provider.RequestCount - requestsBeforeOutage;
            schema.Provider.ClearFaults();
            events.Add($"{watch.Elapsed.TotalSeconds:N1}s provider back");

            var drained = await schema.WaitForDrainAsync(TimeSpan.FromSeconds(150), workers, ct);
            events.Add($"{watch.Elapsed.TotalSeconds:N1}s drained: {drained}");
            var openWhileIdle = proxy.Open;
            var check = await schema.CheckAsync(ct);
            Figures.Report(nameof(Work_PostgresRestartedConnectionsCutProviderGone_WorkersReconnectAndFinish), new
            {
                documents = Documents,
                workers = workers.Count,
                loops_per_worker = 4,
                max_pool_size = 2,
                events,
                outstanding_when_provider_went = outstandingAtOutage,
                provider_requests_during_outage = requestsDuringOutage,
                seconds_to_drain = Math.Round(watch.Elapsed.TotalSeconds, 1),
                proxy_connections_accepted = proxy.Accepted,
                proxy_connections_open_at_end = openWhileIdle,
                check.Vectors,
                check.Lost,
                check.StaleVectors,
                check.LeasedPastExpiry,
                check.Outstanding,
                check.Dead,
                provider_requests = schema.Provider.RequestCount,
                provider_inputs_per_task = Math.Round((double)schema.Provider.InputCount / Documents, 3),
            });

            Assert.True(drained, $"not drained: {check}; {string.Join(" | ", workers.Select(w => w.Describe()))}");
            Assert.All(workers, w => Assert.False(w.HasExited, w.Describe()));
            Assert.True(outstandingAtOutage > 0, "the provider outage came after the queue was drained; the test injected nothing");
            Assert.Equal(0, check.Lost);
            Assert.Equal(0, check.LeasedPastExpiry);
            Assert.Equal(0, check.StaleVectors);
            Assert.Equal(0, check.Dead);
            Assert.Equal(Documents, check.Vectors);

            // No connection leaked: each idle worker holds at most its pool (2) through the proxy.
            Assert.InRange(openWhileIdle, 1, workers.Count * 2);
        }
        finally
        {
            foreach (var worker in workers)
            {
                await worker.DisposeAsync();
            }
        }
    }

    /// <summary>A worker whose connection is lost while it starts (migrations, tables): the start-up steps are retried
    /// like a database that is not reachable yet, and the worker drains the queue. (Found by the test above in CI: two
    /// workers still starting under load when the connections were cut exited with code 1.)</summary>
    [Fact]
    public async Task Work_ConnectionCutWhileStarting_RetriesTheStartUpAndDrains()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await StartClusterAsync(ct);
        var upstream = new NpgsqlConnectionStringBuilder(cluster.ConnectionString);
        await using var proxy = new TcpFaultProxy(upstream.Port);
        await using var schema = await ChaosSchema.CreateAsync(cluster.ConnectionString, ct);
        await schema.SeedAsync(200, ct);
        schema.ConnectionString = new NpgsqlConnectionStringBuilder(schema.ConnectionString) { Port = proxy.Port, Timeout = 3, CommandTimeout = 5 }.ConnectionString;

        // The start-up's first statements name the schema (the connectivity probe and the type loading do not): the
        // first three that reach the proxy lose their connection.
        proxy.CutWhenClientSends(schema.Schema, times: 3);
        await using var worker = schema.StartWorker("cut-while-starting", untilIdle: true, extra: ["--wait-for-database", "60"]);
        var exit = await worker.WaitForExitAsync(TimeSpan.FromSeconds(120));
        var check = await schema.CheckAsync(ct);
        var retries = (worker.Output + worker.Error).Split('\n').Count(l => l.Contains("not reachable", StringComparison.Ordinal));
        Figures.Report(nameof(Work_ConnectionCutWhileStarting_RetriesTheStartUpAndDrains), new
        {
            connections_cut = proxy.CutOnSend,
            retries_printed = retries,
            exit_code = exit,
            check.Vectors,
            check.Lost,
        });

        Assert.True(exit == 0, worker.Describe());
        Assert.Equal(3, proxy.CutOnSend);
        Assert.True(retries >= 3, worker.Describe());
        Assert.Equal(200, check.Vectors);
        Assert.Equal(0, check.Lost);
    }

    /// <summary>A cluster of the test's own (it is stopped and restarted), with pgvector.</summary>
    private static async Task<PostgresCluster> StartClusterAsync(CancellationToken cancellationToken)
    {
        var cluster = await PostgresCluster.StartAsync(cancellationToken);
        await using var setup = NpgsqlDataSource.Create(cluster.ConnectionString);
        await using var command = setup.CreateCommand("CREATE EXTENSION IF NOT EXISTS vector");
        await command.ExecuteNonQueryAsync(cancellationToken);
        return cluster;
    }

    [Fact]
    public async Task Work_StartedWhilePostgresIsDown_WaitsForItThenDrains()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await StartClusterAsync(ct);

        await using var schema = await ChaosSchema.CreateAsync(cluster.ConnectionString, ct);
        await schema.SeedAsync(300, ct);
        schema.DataSource.Clear();
        await PostgresCluster.RunScriptAsync(["stop", cluster.DataDirectory], ct);

        var watch = Stopwatch.StartNew();
        await using var worker = schema.StartWorker("early", concurrency: 2, extra: ["--wait-for-database", "60"]);
        await using var impatient = schema.StartWorker("impatient", concurrency: 1, extra: ["--wait-for-database", "0"]);
        var impatientExit = await impatient.WaitForExitAsync(TimeSpan.FromSeconds(60));
        await Task.Delay(TimeSpan.FromSeconds(5), ct);
        var exitedWhileDown = worker.HasExited;
        var retriesWhileDown = worker.Output.Split('\n').Count(l => l.Contains("not reachable", StringComparison.Ordinal));
        await PostgresCluster.RunScriptAsync(["start", cluster.DataDirectory], ct);
        var startedAt = watch.Elapsed;
        var drained = await schema.WaitForDrainAsync(TimeSpan.FromSeconds(60), [worker], ct);
        var check = await schema.CheckAsync(ct);
        Figures.Report(nameof(Work_StartedWhilePostgresIsDown_WaitsForItThenDrains), new
        {
            seconds_down_before_start = Math.Round(startedAt.TotalSeconds, 1),
            retries_printed_while_down = retriesWhileDown,
            seconds_to_drain_after_start = Math.Round((watch.Elapsed - startedAt).TotalSeconds, 1),
            impatient_exit_code = impatientExit,
            check.Vectors,
            check.Lost,
        });

        Assert.Equal(3, impatientExit);
        Assert.Contains("cannot connect to PostgreSQL", impatient.Error, StringComparison.Ordinal);
        Assert.False(exitedWhileDown, worker.Describe());
        Assert.True(retriesWhileDown >= 2, worker.Describe());
        Assert.True(drained, $"not drained: {check}; {worker.Describe()}");
        Assert.Equal(300, check.Vectors);
        Assert.Equal(0, check.Lost);
    }
}
