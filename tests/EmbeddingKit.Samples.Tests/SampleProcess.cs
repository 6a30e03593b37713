using System.Diagnostics;
using System.Reflection;
using System.Text;
using EmbeddingKit.TestInfrastructure;

namespace EmbeddingKit.Samples.Tests;

/// <summary>
/// A sample running as a child process (<c>dotnet samples/X/bin/{Configuration}/{tfm}/X.dll</c>, built with the tests):
/// configured only through environment variables and arguments, as a user would run it. Output is captured; every wait
/// is bounded and fails with the captured output.
/// </summary>
public sealed class SampleProcess : IAsyncDisposable
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(120);

    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly Lock _gate = new();

    private SampleProcess(Process process) => _process = process;

    public string Output
    {
        get
        {
            lock (_gate)
            {
                return _output.ToString();
            }
        }
    }

    public bool HasExited => _process.HasExited;

    /// <summary>The built sample assembly, e.g. <c>samples/MinimalApi/bin/Debug/net10.0/MinimalApi.dll</c>.</summary>
    public static string PathOf(string folder, string assemblyName)
    {
        var metadata = typeof(SampleProcess).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().ToDictionary(a => a.Key, a => a.Value);
        var path = Path.Combine(RepositoryRoot.Find(), "samples", folder, "bin", metadata["Configuration"]!, metadata["TargetFramework"]!, assemblyName + ".dll");
        return File.Exists(path) ? path : throw new FileNotFoundException($"The sample is not built: {path}", path);
    }

    public static SampleProcess Start(string folder, string assemblyName, IReadOnlyDictionary<string, string> environment, params string[] arguments)
    {
        var dll = PathOf(folder, assemblyName);
        var info = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = Path.GetDirectoryName(dll)!,   // content root: appsettings.json is read from here
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(dll);
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        info.Environment["DOTNET_ENVIRONMENT"] = "Production";
        info.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        info.Environment["DOTNET_NOLOGO"] = "1";
        foreach (var (name, value) in environment)
        {
            info.Environment[name] = value;
        }

        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        var sample = new SampleProcess(process);
        process.OutputDataReceived += (_, e) => sample.Append(e.Data);
        process.ErrorDataReceived += (_, e) => sample.Append(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return sample;
    }

    /// <summary>Waits until the output satisfies <paramref name="condition"/>; fails if the process exits first or the bound passes.</summary>
    public async Task<string> WaitForOutputAsync(Func<string, bool> condition, string what, TimeSpan? timeout = null)
    {
        await Eventually.HoldsAsync(
            () => Task.FromResult(condition(Output) || _process.HasExited),
            $"{what}; output so far:\n{Output}",
            timeout);
        return condition(Output) ? Output : throw new InvalidOperationException($"The sample exited ({_process.ExitCode}) before {what}:\n{Output}");
    }

    public async Task<int> WaitForExitAsync(TimeSpan? timeout = null)
    {
        using var bound = new CancellationTokenSource(timeout ?? DefaultTimeout);
        try
        {
            await _process.WaitForExitAsync(bound.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"The sample did not exit within {(timeout ?? DefaultTimeout).TotalSeconds} s:\n{Output}");
        }

        return _process.ExitCode;
    }

    /// <summary>Stops the sample the way a service manager does (SIGTERM: a graceful host shutdown) and returns its exit code.</summary>
    public async Task<int> StopAsync(TimeSpan? timeout = null)
    {
        EmbeddingKit.TestInfrastructure.Processes.ChildSignals.Send(_process, EmbeddingKit.TestInfrastructure.Processes.ChildSignals.Terminate);
        return await WaitForExitAsync(timeout);
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_gate)
        {
            _output.AppendLine(line);
        }
    }
}
