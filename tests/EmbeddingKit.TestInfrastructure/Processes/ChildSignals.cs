using System.Diagnostics;
using System.Runtime.InteropServices;

namespace EmbeddingKit.TestInfrastructure.Processes;

/// <summary>
/// Sends a signal to a child process only while it is alive, through <c>kill(2)</c> itself. Starting <c>kill(1)</c> with a
/// child's pid leaves milliseconds in which the child may exit and be reaped, and a pid freed on a busy machine (pid_max
/// 32,768 here) is soon another process's, or another process's thread: a test run once lost a whole test process to a
/// stray signal, exit code 0, while three test projects signalled their children this way.
/// </summary>
public static partial class ChildSignals
{
    /// <summary>SIGTERM (Linux).</summary>
    public const int Terminate = 15;

    /// <summary>SIGCONT (Linux).</summary>
    public const int Continue = 18;

    /// <summary>SIGSTOP (Linux).</summary>
    public const int Stop = 19;

    /// <summary>The signal named <paramref name="name"/> (TERM, CONT or STOP).</summary>
    public static int FromName(string name) => name switch
    {
        "TERM" => Terminate,
        "CONT" => Continue,
        "STOP" => Stop,
        _ => throw new ArgumentOutOfRangeException(nameof(name), name, "TERM, CONT or STOP"),
    };

    /// <summary>Sends <paramref name="signal"/> to <paramref name="child"/> unless it has exited.</summary>
    /// <returns>Whether the signal was sent (false: the child had exited).</returns>
    /// <exception cref="InvalidOperationException">kill(2) failed for a child still running.</exception>
    public static bool Send(Process child, int signal)
    {
        ArgumentNullException.ThrowIfNull(child);

        // While the child has not been reaped (HasExited is false), its pid cannot belong to anyone else.
        if (child.HasExited)
        {
            return false;
        }

        if (Kill(child.Id, signal) == 0)
        {
            return true;
        }

        var error = Marshal.GetLastPInvokeError();
        return child.HasExited ? false : throw new InvalidOperationException($"kill({child.Id}, {signal}) failed: errno {error}");
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}
