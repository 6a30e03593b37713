using System.Diagnostics;

namespace EmbeddingKit.Cli.Infrastructure;

/// <summary>
/// The local PostgreSQL the CLI uses when no --connection is given: a cluster in a data folder
/// (<c>$EMBEDDINGKIT_HOME</c>, default <c>~/.embeddingkit</c>), provisioned and started on demand by the embedded copy
/// of scripts/postgres, and reused by later runs.
/// </summary>
internal static class LocalPostgres
{
    public static string Home =>
        Environment.GetEnvironmentVariable("EMBEDDINGKIT_HOME") is { Length: > 0 } home
            ? home
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".embeddingkit");

    public static string DataDirectory => Path.Combine(Home, "postgres");

    /// <summary>Starts the cluster if needed and returns its connection string.</summary>
    public static async Task<string> EnsureStartedAsync(Action<string>? progress, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(Home);
        if (OperatingSystem.IsLinux() || OperatingSystem.IsMacOS())
        {
            // The cluster runs as user postgres when we are root: it must be able to reach the data folder.
            File.SetUnixFileMode(Home, File.GetUnixFileMode(Home) | UnixFileMode.OtherExecute | UnixFileMode.GroupExecute);
        }

        var script = Path.Combine(Home, "postgres.sh");
        await using (var resource = typeof(LocalPostgres).Assembly.GetManifestResourceStream("EmbeddingKit.Cli.postgres.sh")!)
        await using (var file = File.Create(script))
        {
            await resource.CopyToAsync(file, cancellationToken);
        }

        var start = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(script);
        start.ArgumentList.Add("start");
        start.ArgumentList.Add(DataDirectory);
        using var process = Process.Start(start) ?? throw new CliException("could not start bash to provision PostgreSQL");
        var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var errors = new List<string>();
        while (await process.StandardError.ReadLineAsync(cancellationToken) is { } line)
        {
            errors.Add(line);
            progress?.Invoke(line);
        }

        await process.WaitForExitAsync(cancellationToken);
        if (process.ExitCode != 0)
        {
            throw new CliException($"could not start the local PostgreSQL ({string.Join(" | ", errors.TakeLast(3))})");
        }

        return (await stdout).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)[^1];
    }
}
