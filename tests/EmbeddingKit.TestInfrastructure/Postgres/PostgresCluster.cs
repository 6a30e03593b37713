using System.Diagnostics;

namespace EmbeddingKit.TestInfrastructure.Postgres;

/// <summary>
/// A throwaway PostgreSQL 15 + pgvector cluster started through the project's <c>scripts/postgres</c> (which installs
/// what is missing) in a temp folder. Disposing it stops the cluster and deletes the folder.
/// </summary>
public sealed class PostgresCluster : IAsyncDisposable
{
    private PostgresCluster(string dataDirectory, string connectionString)
    {
        DataDirectory = dataDirectory;
        ConnectionString = connectionString;
    }

    /// <summary>The cluster's folder.</summary>
    public string DataDirectory { get; }

    /// <summary>A connection string for the <c>postgres</c> superuser and database.</summary>
    public string ConnectionString { get; }

    /// <summary>Starts a new cluster.</summary>
    public static async Task<PostgresCluster> StartAsync(CancellationToken cancellationToken = default)
    {
        var directory = Path.Combine(Path.GetTempPath(), "embeddingkit-test-" + Guid.NewGuid().ToString("N")[..12]);
        var output = await RunScriptAsync(["start", directory], cancellationToken).ConfigureAwait(false);
        var connectionString = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)[^1];
        return new PostgresCluster(directory, connectionString);
    }

    /// <summary>Runs <c>scripts/postgres</c> with arguments and returns its standard output; throws with its error
    /// output when it fails.</summary>
    public static async Task<string> RunScriptAsync(IReadOnlyList<string> arguments, CancellationToken cancellationToken = default)
    {
        var script = Path.Combine(RepositoryRoot.Find(), "scripts", "postgres");
        var start = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(script);
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException("could not start scripts/postgres");
        var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException(
                $"scripts/postgres {string.Join(' ', arguments)} failed with exit code {process.ExitCode}: {await stderr.ConfigureAwait(false)}");
        }

        return await stdout.ConfigureAwait(false);
    }

    /// <summary>Stops the cluster and deletes its folder.</summary>
    public async ValueTask DisposeAsync()
    {
        await RunScriptAsync(["destroy", DataDirectory]).ConfigureAwait(false);
    }
}
