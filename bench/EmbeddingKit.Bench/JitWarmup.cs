using System.Runtime;

namespace EmbeddingKit.Bench;

/// <summary>
/// Warm-up until the JIT has settled: tiered compilation moves hot methods through instrumented code to their final code
/// in the background, over tens of seconds on a busy 2-core machine, and a fixed short warm-up measured that tier-up
/// instead of the code (session 8: 4,300 methods and 3 s of JIT inside the pipeline bench's measured part). A round is
/// repeated until one compiles for less than <see cref="Quiet"/>, at most <c>maxRounds</c> times.
/// </summary>
internal static class JitWarmup
{
    /// <summary>JIT time below which a round counts as settled.</summary>
    public static readonly TimeSpan Quiet = TimeSpan.FromMilliseconds(100);

    /// <summary>Runs <paramref name="round"/> (given its index) until a round compiles for less than <see cref="Quiet"/>.</summary>
    /// <returns>The rounds run.</returns>
    public static async Task<int> UntilSettledAsync(Func<int, Task> round, int maxRounds)
    {
        var rounds = 0;
        while (rounds < maxRounds)
        {
            var before = JitInfo.GetCompilationTime();
            await round(rounds++);
            if (JitInfo.GetCompilationTime() - before < Quiet)
            {
                break;
            }
        }

        return rounds;
    }
}
