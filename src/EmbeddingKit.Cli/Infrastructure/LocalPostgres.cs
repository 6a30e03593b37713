using System.Diagnostics;

namespace EmbeddingKit.Cli.Infrastructure;

/// <summary>
/// The local PostgreSQL the CLI uses when no --connection is given: a cluster the user keeps, provisioned and started on
/// demand by the embedded copy of scripts/postgres (<c>start --kept</c>) and reused by later runs. It is durable (fsync
/// and full-page writes on), listens on no TCP port and is reachable only through a Unix socket in a folder that only
/// the server's user can enter, and it starts with a clean environment so no secret of the CLI's reaches it.
/// </summary>
/// <remarks>
/// Where it lives: <c>$EMBEDDINGKIT_POSTGRES_DIR</c> when set; otherwise, for root, <c>/var/lib/embeddingkit/postgres</c>
/// (the server runs as user <c>postgres</c>, which cannot enter root's private home); otherwise
/// <c>$EMBEDDINGKIT_HOME/postgres</c>, default <c>~/.embeddingkit/postgres</c>.
/// </remarks>
internal static class LocalPostgres
{
    /// <summary>The state folder for root, owned by root and traversable by the <c>postgres</c> user.</summary>
    public const string RootStateDirectory = "/var/lib/embeddingkit";

    /// <summary>What a child process gets of the CLI's environment: what finding programs and temp folders needs.</summary>
    private static readonly string[] PassedEnvironment = ["PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "USER", "LOGNAME"];

    public static string Home =>
        Environment.GetEnvironmentVariable("EMBEDDINGKIT_HOME") is { Length: > 0 } home
            ? home
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".embeddingkit");

    public static string DataDirectory =>
        Environment.GetEnvironmentVariable("EMBEDDINGKIT_POSTGRES_DIR") is { Length: > 0 } dir
            ? Path.GetFullPath(dir)
            : IsRoot ? Path.Combine(RootStateDirectory, "postgres") : Path.Combine(Home, "postgres");

    private static bool IsRoot => (OperatingSystem.IsLinux() || OperatingSystem.IsMacOS()) && Environment.UserName == "root";

    /// <summary>Starts the cluster if needed and returns its connection string.</summary>
    /// <exception cref="CliException">Exit code 2 for a data folder that cannot be used, 3 when PostgreSQL cannot be
    /// provisioned or started; the message is one line that says what to do.</exception>
    public static async Task<string> EnsureStartedAsync(Action<string>? progress, CancellationToken cancellationToken)
    {
        var script = await WriteScriptAsync(cancellationToken);
        var start = new ProcessStartInfo("bash")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(script);
        start.ArgumentList.Add("start");
        start.ArgumentList.Add("--kept");
        start.ArgumentList.Add(DataDirectory);

        // A clean environment: EMBEDDINGKIT_API_KEY and every other secret of the caller stay out of the script and of
        // the server it starts (which would keep them in /proc/<pid>/environ for as long as it runs).
        start.Environment.Clear();
        foreach (var name in PassedEnvironment)
        {
            if (Environment.GetEnvironmentVariable(name) is { } value)
            {
                start.Environment[name] = value;
            }
        }

        Process process;
        try
        {
            process = Process.Start(start) ?? throw new CliException("could not start bash to provision PostgreSQL; is bash installed?", 3);
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new CliException($"could not start bash to provision PostgreSQL ({e.Message}); is bash installed?", 3, e);
        }

        using (process)
        {
            process.StandardInput.Close();
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
                var reason = errors.LastOrDefault(l => l.StartsWith("[postgres] ", StringComparison.Ordinal))?["[postgres] ".Length..]
                    ?? errors.LastOrDefault() ?? $"scripts/postgres exited {process.ExitCode}";
                throw process.ExitCode == 2
                    ? new CliException($"cannot use {DataDirectory} for the local PostgreSQL: {reason}", 2)
                    : new CliException($"could not start the local PostgreSQL in {DataDirectory}: {reason} (or pass --connection to use another server)", 3);
            }

            var output = (await stdout).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            return output.Length > 0
                ? output[^1]
                : throw new CliException($"the local PostgreSQL in {DataDirectory} started but printed no connection string", 3);
        }
    }

    /// <summary>Writes the embedded script beside the user's state (atomically, so a second CLI that is running the
    /// previous copy is not disturbed) and returns its path.</summary>
    private static async Task<string> WriteScriptAsync(CancellationToken cancellationToken)
    {
        var folder = IsRoot ? RootStateDirectory : Home;
        try
        {
            Directory.CreateDirectory(folder);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CliException($"cannot create {folder} for the local PostgreSQL ({e.Message}); set EMBEDDINGKIT_HOME to a folder you can write, or pass --connection", 2, e);
        }

        var script = Path.Combine(folder, "postgres.sh");
        var partial = $"{script}.{Environment.ProcessId}";
        await using (var resource = typeof(LocalPostgres).Assembly.GetManifestResourceStream("EmbeddingKit.Cli.postgres.sh")!)
        await using (var file = File.Create(partial))
        {
            await resource.CopyToAsync(file, cancellationToken);
        }

        File.Move(partial, script, overwrite: true);
        return script;
    }
}
