using EmbeddingKit.Reliability.Tests.Infrastructure;
using EmbeddingKit.TestInfrastructure.Postgres;
using Npgsql;

namespace EmbeddingKit.Reliability.Tests.HostileInput;

/// <summary>A wrong database password: a clear error (exit 3) that names the server and never echoes the password. Uses
/// its own cluster, since the shared test cluster trusts every local connection.</summary>
public sealed class WrongPasswordTests
{
    [Fact]
    public async Task Cli_WrongPasswordOrBadConnectionString_ClearErrorWithoutPassword()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await PostgresCluster.StartAsync(ct);
        var hba = Path.Combine(cluster.DataDirectory, "pgdata", "pg_hba.conf");
        await File.WriteAllTextAsync(hba, "host all ekuser 127.0.0.1/32 scram-sha-256\n" + await File.ReadAllTextAsync(hba, ct), ct);
        await using (var dataSource = NpgsqlDataSource.Create(cluster.ConnectionString))
        {
            await using var command = dataSource.CreateCommand("CREATE ROLE ekuser LOGIN PASSWORD 'the-right-one'; SELECT pg_reload_conf()");
            await command.ExecuteNonQueryAsync(ct);
        }

        const string Password = "Wr0ng-Passw0rd-never-print-me";
        var port = new NpgsqlConnectionStringBuilder(cluster.ConnectionString).Port;
        var results = new Dictionary<string, string>();
        foreach (var (name, connection, exitCode) in new[]
        {
            ("wrong password", $"Host=127.0.0.1;Port={port};Username=ekuser;Password={Password};Database=postgres", 3),
            ("bad connection string", $"Host=127.0.0.1;Port={port};Password={Password};Frobnicate=1", 2),
        })
        {
            await using var cli = WorkerProcess.Start("status", ["status", "--connection", connection, "--json"]);
            var exit = await cli.WaitForExitAsync(TimeSpan.FromSeconds(60));
            var all = cli.Output + cli.Error;
            results[name] = cli.Error.Trim();
            Assert.True(exit == exitCode, $"{name}: {cli.Describe()}");
            Assert.DoesNotContain(Password, all, StringComparison.Ordinal);
            Assert.DoesNotContain("   at ", all, StringComparison.Ordinal);
        }

        Figures.Report(nameof(Cli_WrongPasswordOrBadConnectionString_ClearErrorWithoutPassword), results);
        Assert.Contains("28P01", results["wrong password"], StringComparison.Ordinal);
        Assert.Contains("ekuser", results["wrong password"], StringComparison.Ordinal);
        Assert.Contains("frobnicate", results["bad connection string"], StringComparison.OrdinalIgnoreCase);
    }
}
