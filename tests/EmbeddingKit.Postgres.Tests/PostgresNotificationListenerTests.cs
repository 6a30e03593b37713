using EmbeddingKit.TestInfrastructure.Postgres;
using EmbeddingKit.TestInfrastructure.Time;
using Microsoft.Extensions.Time.Testing;
using Npgsql;

namespace EmbeddingKit.Postgres.Tests;

/// <summary>The reconnecting <c>LISTEN</c> loop of the task signal and the active-model cache, on a real PostgreSQL and a
/// <see cref="FakeTimeProvider"/>: the reconnect delays are advanced, never slept.</summary>
public sealed class PostgresNotificationListenerTests(PostgresServer server) : SchemaTest(server)
{
    private readonly TimerCountingTimeProvider _time = new();
    private readonly List<TimeSpan> _delays = [];
    private int _listening;
    private int _notifications;

    [Fact]
    public async Task RunAsync_ListeningConnectionDropped_ReconnectsAfterTheFirstDelayEveryTime()
    {
        var application = "listener-" + Guid.NewGuid().ToString("N")[..8];
        var channel = "ek_listener_" + Guid.NewGuid().ToString("N")[..8];
        var builder = new NpgsqlDataSourceBuilder(await Server.GetConnectionStringAsync(Ct));
        builder.ConnectionStringBuilder.ApplicationName = application;
        await using var dataSource = builder.Build();
        using var stop = new CancellationTokenSource();
        var run = Start(dataSource, $"LISTEN {channel}", stop.Token);
        await Until.TrueAsync(() => Volatile.Read(ref _listening) == 1, "listening");

        for (var drop = 1; drop <= 2; drop++)
        {
            await ExecuteAsync($"NOTIFY {channel}");
            await Until.TrueAsync(() => Volatile.Read(ref _notifications) == drop, "notified");
            await TerminateAsync(application);
            Assert.True(await _time.WaitForTimersAsync(drop, TimeSpan.FromSeconds(30), Ct), "the reconnect delay started");
            Assert.Equal(drop, Delays().Count);
            Assert.Equal(drop, Volatile.Read(ref _listening));

            // Each connection that listened starts the backoff over: 500 ms after every drop, not 500 ms then 1 s.
            _time.Advance(TimeSpan.FromMilliseconds(500));
            await Until.TrueAsync(() => Volatile.Read(ref _listening) == drop + 1, "listening again");
        }

        await stop.CancelAsync();
        await run;
        Assert.Equal([TimeSpan.FromMilliseconds(500), TimeSpan.FromMilliseconds(500)], Delays());
    }

    [Fact]
    public async Task RunAsync_DatabaseUnreachable_RetriesAfterDoublingDelaysUntilStopped()
    {
        await using var dataSource = NpgsqlDataSource.Create($"Host=127.0.0.1;Port={ClosedPort.Get()};Username=postgres;Timeout=5");
        using var stop = new CancellationTokenSource();
        var run = Start(dataSource, "LISTEN nothing", stop.Token);

        for (var failure = 1; failure <= 4; failure++)
        {
            Assert.True(await _time.WaitForTimersAsync(failure, TimeSpan.FromSeconds(30), Ct), $"delay {failure} started");
            _time.Advance(Delays()[^1]);
        }

        await Until.TrueAsync(() => Delays().Count == 5, "failure 5");
        await stop.CancelAsync();
        await run;
        Assert.Equal(new[] { 0.5, 1, 2, 4, 8 }, Delays().Select(d => d.TotalSeconds));
        Assert.Equal(0, Volatile.Read(ref _listening));
    }

    private Task Start(NpgsqlDataSource dataSource, string listenSql, CancellationToken stoppingToken) =>
        Task.Run(
            () => PostgresNotificationListener.RunAsync(
                dataSource,
                listenSql,
                (_, _) => Interlocked.Increment(ref _notifications),
                () => Interlocked.Increment(ref _listening),
                (_, delay) =>
                {
                    lock (_delays)
                    {
                        _delays.Add(delay);
                    }
                },
                _time,
                stoppingToken),
            CancellationToken.None);

    private List<TimeSpan> Delays()
    {
        lock (_delays)
        {
            return [.. _delays];
        }
    }

    private async Task TerminateAsync(string application)
    {
        await using var command = DataSource.CreateCommand("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1");
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = application });
        Assert.Equal(1L, (long)(await command.ExecuteScalarAsync(Ct))!);
    }
}
