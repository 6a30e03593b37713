using System.Net;
using System.Net.Sockets;
using EmbeddingKit.Cli.Infrastructure;
using EmbeddingKit.TestInfrastructure.Time;

namespace EmbeddingKit.Cli.Tests;

/// <summary><c>--wait-for-database</c>: the waits between tries run on the invocation's clock, a fake one here, so the
/// test advances it instead of sleeping.</summary>
public sealed class WaitForDatabaseTests
{
    private static readonly TimeSpan WaitLimit = TimeSpan.FromSeconds(30);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task OpenDataSourceAsync_UnreachableLongerThanTheWait_ReportsEachRetryThenFailsWithExit3()
    {
        var time = new TimerCountingTimeProvider();
        var port = ClosedPort();
        var settings = CliSettings.From(CliApplication.BuildRootCommand().Parse(["migrate", "--connection", $"Host=127.0.0.1;Port={port};Username=postgres;Timeout=5"]));
        settings.WaitForDatabase = TimeSpan.FromSeconds(3);
        settings.TimeProvider = time;
        var lines = new List<string>();

        var opening = settings.OpenDataSourceAsync(line => { lock (lines) { lines.Add(line); } }, Ct);
        Assert.True(await time.WaitForTimersAsync(1, WaitLimit, Ct), "first retry scheduled");
        time.Advance(TimeSpan.FromMilliseconds(500));
        Assert.True(await time.WaitForTimersAsync(2, WaitLimit, Ct), "second retry scheduled");
        time.Advance(TimeSpan.FromSeconds(1));

        // At 1.5 s the next wait (2 s) would end after the 3 s given: the third failure is the answer.
        var error = await Assert.ThrowsAsync<CliException>(() => opening);
        Assert.Equal(3, error.ExitCode);
        Assert.StartsWith($"cannot connect to PostgreSQL at 127.0.0.1:{port} (after waiting 2 s): ", error.Message, StringComparison.Ordinal);
        lock (lines)
        {
            Assert.Equal(2, lines.Count);
            Assert.EndsWith("; retrying in 0.5 s", lines[0], StringComparison.Ordinal);
            Assert.EndsWith("; retrying in 1 s", lines[1], StringComparison.Ordinal);
            Assert.All(lines, line => Assert.StartsWith($"PostgreSQL at 127.0.0.1:{port} is not reachable (", line, StringComparison.Ordinal));
        }
    }

    [Fact]
    public async Task OpenDataSourceAsync_UnreachableWithoutWait_FailsAtOnceWithExit3()
    {
        var time = new TimerCountingTimeProvider();
        var settings = CliSettings.From(CliApplication.BuildRootCommand().Parse(["migrate", "--connection", $"Host=127.0.0.1;Port={ClosedPort()};Username=postgres;Timeout=5"]));
        settings.TimeProvider = time;

        var error = await Assert.ThrowsAsync<CliException>(() => settings.OpenDataSourceAsync(null, Ct));

        Assert.Equal(3, error.ExitCode);
        Assert.Equal(0, time.TimersCreated);
    }

    private static int ClosedPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }
}
