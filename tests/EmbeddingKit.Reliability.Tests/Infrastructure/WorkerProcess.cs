using EmbeddingKit.TestInfrastructure.Processes;
using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace EmbeddingKit.Reliability.Tests.Infrastructure;

/// <summary>
/// One <c>embeddingkit</c> child process (<c>dotnet EmbeddingKit.Cli.dll …</c>) with its output captured, which a test
/// can kill (SIGKILL), stop (SIGSTOP), continue (SIGCONT) or terminate gracefully (SIGTERM).
/// </summary>
public sealed class WorkerProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly StringBuilder _error = new();

    private WorkerProcess(Process process, string name)
    {
        _process = process;
        Name = name;
    }

    /// <summary>Gets a name for messages.</summary>
    public string Name { get; }

    /// <summary>Gets the operating-system process id (the CLI's worker ids contain it).</summary>
    public int Id => _process.Id;

    /// <summary>Gets whether the process has exited.</summary>
    public bool HasExited => _process.HasExited;

    /// <summary>Gets the exit code (after exit).</summary>
    public int ExitCode => _process.ExitCode;

    /// <summary>Gets what the process wrote on standard output so far.</summary>
    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>Gets what the process wrote on standard error so far.</summary>
    public string Error
    {
        get
        {
            lock (_error)
            {
                return _error.ToString();
            }
        }
    }

    /// <summary>Starts <c>embeddingkit</c> with the arguments.</summary>
    public static WorkerProcess Start(string name, IEnumerable<string> arguments, IReadOnlyDictionary<string, string>? environment = null)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(CliPaths.CliDll);
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        // Plain output (no live progress bar), no telemetry noise, a small GC footprint for many processes on 2 cores.
        start.Environment["NO_COLOR"] = "1";
        start.Environment["TERM"] = "dumb";
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_gcServer"] = "0";
        start.Environment["DOTNET_TieredPGO"] = "0";
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[key] = value;
        }

        var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        var worker = new WorkerProcess(process, name);
        process.OutputDataReceived += (_, e) => Append(worker._output, e.Data);
        process.ErrorDataReceived += (_, e) => Append(worker._error, e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return worker;
    }

    /// <summary>SIGKILL: the process dies at once, with whatever it had claimed.</summary>
    public void Kill()
    {
        try
        {
            _process.Kill(entireProcessTree: false);
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }
    }

    /// <summary>Sends a signal by name (STOP, CONT, TERM), unless the process has exited.</summary>
    public Task SignalAsync(string signal)
    {
        ChildSignals.Send(_process, ChildSignals.FromName(signal));
        return Task.CompletedTask;
    }

    /// <summary>Waits for the process to exit, at most <paramref name="timeout"/>; throws (with its output) when it does not.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var deadline = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(deadline.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"{Name} (pid {Id}) did not exit within {timeout.TotalSeconds:N0} s. stdout: {Tail(Output)} stderr: {Tail(Error)}");
        }

        // The asynchronous readers may still be draining the pipes.
        _process.WaitForExit();
        return _process.ExitCode;
    }

    /// <summary>Describes the process for assertion messages.</summary>
    public string Describe() => $"{Name} (pid {Id}, exit {(HasExited ? ExitCode.ToString(CultureInfo.InvariantCulture) : "-")}): stdout: {Tail(Output)} stderr: {Tail(Error)}";

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            try
            {
                await SignalAsync("CONT").ConfigureAwait(false);
            }
            catch (InvalidOperationException)
            {
                // Gone meanwhile.
            }

            Kill();
            await _process.WaitForExitAsync().ConfigureAwait(false);
        }

        _process.Dispose();
    }

    private static string Tail(string text) => text.Length <= 2_000 ? text : "…" + text[^2_000..];

    private static void Append(StringBuilder builder, string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (builder)
        {
            builder.AppendLine(line);
        }
    }
}
