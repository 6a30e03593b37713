using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Npgsql;

namespace EmbeddingKit.Cli.Tests;

/// <summary>
/// The CLI's default database, the cluster a user keeps: provisioned once by two CLI processes started at the same time
/// on a machine without it, durable, reachable only through its private socket folder, and started with a clean
/// environment. The cluster is real (scripts/postgres start --kept, run by the CLI itself) and lives in a folder of its
/// own (<c>EMBEDDINGKIT_POSTGRES_DIR</c>), destroyed at the end.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class LocalPostgresTests(LocalPostgresTests.Cluster cluster) : IClassFixture<LocalPostgresTests.Cluster>
{
    /// <summary>A secret the CLI's environment holds while it starts the cluster.</summary>
    public const string Sentinel = "sk-sentinel-6d2f0b3e-must-not-reach-postgres";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public void EnsureStarted_TwoCommandsAtOnce_ProvisionOnceAndBothSucceed()
    {
        Assert.All(cluster.FirstRuns, r => Assert.True(r.ExitCode == 0, r.Error));
        Assert.Equal(1, cluster.FirstRuns.Sum(r => Occurrences(r.Error, "initdb in ")));
        Assert.Equal(1, cluster.FirstRuns.Sum(r => Occurrences(r.Error, "reusing the cluster in ")));
        Assert.All(cluster.FirstRuns, r => Assert.Equal("0.8", JsonDocument.Parse(r.Out).RootElement.GetProperty("pgvector").GetProperty("available").GetString()![..3]));
    }

    [Fact]
    public async Task EnsureStarted_KeptCluster_IsDurableAndListensOnNoTcpPort()
    {
        await using var dataSource = NpgsqlDataSource.Create(cluster.ConnectionString);
        Assert.Equal("on", await ShowAsync(dataSource, "fsync"));
        Assert.Equal("on", await ShowAsync(dataSource, "full_page_writes"));
        Assert.Equal("on", await ShowAsync(dataSource, "synchronous_commit"));
        Assert.Equal("on", await ShowAsync(dataSource, "data_checksums"));
        Assert.Equal(string.Empty, await ShowAsync(dataSource, "listen_addresses"));

        var rules = File.ReadAllLines(Path.Combine(cluster.Directory, "pgdata", "pg_hba.conf"))
            .Where(l => l.Trim() is { Length: > 0 } t && !t.StartsWith('#')).ToList();
        Assert.Equal(["local all all trust"], rules);
        Assert.True(cluster.ConnectionString.StartsWith($"Host={cluster.Directory}/socket;", StringComparison.Ordinal), cluster.ConnectionString);
    }

    [Fact]
    public async Task EnsureStarted_AnotherOsUser_CannotConnect()
    {
        // The way in is the socket folder, which only the server's user can enter (root passes any mode).
        var owner = Environment.UserName == "root" ? "postgres" : Environment.UserName;
        foreach (var folder in new[] { cluster.Directory, Path.Combine(cluster.Directory, "socket") })
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(folder));
            Assert.Equal(owner, (await RunAsync(["stat", "-c", "%U", folder], new())).Out.Trim());
        }

        // And the proof from the other side: user nobody tries it with psql. Root switches users itself, another user
        // through passwordless sudo when it has it (without either, no other user can be impersonated here).
        string[] prefix = Environment.UserName == "root" ? ["runuser", "-u", "nobody", "--"]
            : await CanSudoAsync() ? ["sudo", "-n", "-u", "nobody", "--"]
            : [];
        if (prefix.Length > 0)
        {
            var psql = await RunAsync([.. prefix, "psql", "-X", "-w", $"host={cluster.Directory}/socket user=postgres dbname=postgres", "-c", "SELECT 1"], new());

            Assert.NotEqual(0, psql.ExitCode);
            Assert.Contains("Permission denied", psql.Error, StringComparison.Ordinal);
            Assert.DoesNotContain("(1 row)", psql.Out, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task EnsureStarted_ApiKeyInTheCallersEnvironment_ReachesNoServerProcess()
    {
        var postmaster = int.Parse(File.ReadLines(Path.Combine(cluster.Directory, "pgdata", "postmaster.pid")).First(), CultureInfo.InvariantCulture);
        var processes = new List<int> { postmaster };
        foreach (var folder in System.IO.Directory.EnumerateDirectories("/proc").Where(d => int.TryParse(Path.GetFileName(d), out _)))
        {
            try
            {
                var fields = File.ReadAllText(Path.Combine(folder, "stat")).Split(") ", 2)[1].Split(' ');
                if (int.Parse(fields[1], CultureInfo.InvariantCulture) == postmaster)
                {
                    processes.Add(int.Parse(Path.GetFileName(folder), CultureInfo.InvariantCulture));
                }
            }
            catch (IOException)
            {
                // the process ended while we looked
            }
        }

        Assert.True(processes.Count >= 4, $"the postmaster and its background processes: found {processes.Count}");
        foreach (var pid in processes)
        {
            var environment = await File.ReadAllTextAsync($"/proc/{pid}/environ", Ct);
            Assert.DoesNotContain(Sentinel, environment, StringComparison.Ordinal);
            Assert.DoesNotContain("EMBEDDINGKIT_API_KEY", environment, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task EnsureStarted_UnusableDataFolder_FailsWithOneLineAndExit2()
    {
        var home = System.IO.Directory.CreateTempSubdirectory("embeddingkit-private-home-");   // mode 0700, like a home
        try
        {
            // A data folder below a file cannot be made, whoever runs this.
            var file = Path.Combine(home.FullName, "a-file");
            await File.WriteAllTextAsync(file, "not a folder", Ct);
            var unusable = new List<CliResult> { await RunCliAsync(["status", "--json"], Path.Combine(file, "postgres")) };

            // Root hands the cluster to user postgres, who cannot enter a private home: refused, with advice that does
            // not open the home up.
            if (Environment.UserName == "root")
            {
                var unreachable = await RunCliAsync(["status", "--json"], Path.Combine(home.FullName, "postgres"));
                Assert.Contains("user postgres cannot reach", unreachable.Error, StringComparison.Ordinal);
                Assert.Contains("EMBEDDINGKIT_POSTGRES_DIR=", unreachable.Error, StringComparison.Ordinal);
                Assert.DoesNotContain("chmod", unreachable.Error, StringComparison.Ordinal);
                unusable.Add(unreachable);
            }

            Assert.All(unusable, r =>
            {
                Assert.Equal(2, r.ExitCode);
                Assert.Single(r.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries), l => l.StartsWith("error: ", StringComparison.Ordinal));
                Assert.DoesNotContain("unbound variable", r.Error, StringComparison.Ordinal);
                Assert.Empty(r.Out);
            });
        }
        finally
        {
            home.Delete(recursive: true);
        }
    }

    private static int Occurrences(string text, string what) => text.Split(what).Length - 1;

    private static async Task<string> ShowAsync(NpgsqlDataSource dataSource, string setting)
    {
        await using var command = dataSource.CreateCommand("SELECT current_setting($1)");
        command.Parameters.AddWithValue(setting);
        return (string)(await command.ExecuteScalarAsync(Ct))!;
    }

    private static async Task<bool> CanSudoAsync()
    {
        try
        {
            return (await RunAsync(["sudo", "-n", "true"], new())).ExitCode == 0;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return false;
        }
    }

    /// <summary>Runs the CLI as a child process with the cluster folder and a secret in its environment.</summary>
    public static Task<CliResult> RunCliAsync(string[] args, string postgresDirectory) =>
        RunAsync(["dotnet", Path.Combine(AppContext.BaseDirectory, "EmbeddingKit.Cli.dll"), .. args], new()
        {
            ["EMBEDDINGKIT_POSTGRES_DIR"] = postgresDirectory,
            ["EMBEDDINGKIT_API_KEY"] = Sentinel,
            ["EMBEDDINGKIT_CONNECTION"] = null,
        });

    private static async Task<CliResult> RunAsync(string[] command, Dictionary<string, string?> environment)
    {
        var start = new ProcessStartInfo(command[0]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in command.Skip(1))
        {
            start.ArgumentList.Add(arg);
        }

        foreach (var (name, value) in environment)
        {
            start.Environment[name] = value;
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync(Ct);
        var stderr = process.StandardError.ReadToEndAsync(Ct);
        await process.WaitForExitAsync(Ct);
        return new CliResult(process.ExitCode, await stdout, await stderr);
    }

    /// <summary>One kept cluster for the class, provisioned by two CLI processes started at once.</summary>
    public sealed class Cluster : IAsyncLifetime
    {
        private readonly DirectoryInfo _parent = System.IO.Directory.CreateTempSubdirectory("embeddingkit-kept-");

        public string Directory => Path.Combine(_parent.FullName, "postgres");

        public IReadOnlyList<CliResult> FirstRuns { get; private set; } = [];

        public string ConnectionString { get; private set; } = null!;

        public async ValueTask InitializeAsync()
        {
            // The folder above the cluster must be traversable by user postgres when root runs the tests.
            File.SetUnixFileMode(_parent.FullName, (UnixFileMode)0b111_101_101);
            FirstRuns = await Task.WhenAll(RunCliAsync(["status", "--json"], Directory), RunCliAsync(["status", "--json"], Directory));
            ConnectionString = (await RunAsync(["bash", RepositoryScript(), "url", Directory], new())).Out.Trim();
        }

        public async ValueTask DisposeAsync()
        {
            await RunAsync(["bash", RepositoryScript(), "destroy", Directory], new());
            _parent.Delete(recursive: true);
        }

        private static string RepositoryScript() => Path.Combine(TestInfrastructure.RepositoryRoot.Find(), "scripts", "postgres");
    }
}
