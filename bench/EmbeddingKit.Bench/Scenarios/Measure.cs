using System.Diagnostics;

namespace EmbeddingKit.Bench.Scenarios;

/// <summary>Stopwatch loops with warm-up; allocations from <see cref="GC.GetTotalAllocatedBytes(bool)"/> (all threads,
/// so async continuations that hop threads are counted too).</summary>
internal static class Measure
{
    public static async Task<(double NsPerOp, double BytesPerOp)> AsyncAsync(Func<Task> operation, TimeSpan duration, int warmup = 20)
    {
        for (var i = 0; i < warmup; i++)
        {
            await operation();
        }

        // Calibrate a batch size that runs about 1/10 of the duration.
        var sw = Stopwatch.StartNew();
        var calibration = 0;
        while (sw.Elapsed < duration / 10)
        {
            await operation();
            calibration++;
        }

        var iterations = Math.Max(calibration * 10, 10);
        var bytesBefore = GC.GetTotalAllocatedBytes(precise: true);
        sw.Restart();
        for (var i = 0; i < iterations; i++)
        {
            await operation();
        }

        sw.Stop();
        var bytes = GC.GetTotalAllocatedBytes(precise: true) - bytesBefore;
        return (sw.Elapsed.TotalNanoseconds / iterations, (double)bytes / iterations);
    }

    public static (double NsPerOp, double BytesPerOp) Sync(Action operation, TimeSpan duration, int warmup = 1000)
    {
        for (var i = 0; i < warmup; i++)
        {
            operation();
        }

        var sw = Stopwatch.StartNew();
        var calibration = 0;
        while (sw.Elapsed < duration / 10)
        {
            operation();
            calibration++;
        }

        var iterations = Math.Max(calibration * 10, 10);
        var bytesBefore = GC.GetAllocatedBytesForCurrentThread();
        sw.Restart();
        for (var i = 0; i < iterations; i++)
        {
            operation();
        }

        sw.Stop();
        var bytes = GC.GetAllocatedBytesForCurrentThread() - bytesBefore;
        return (sw.Elapsed.TotalNanoseconds / iterations, (double)bytes / iterations);
    }

    /// <summary>Runs every operation for <paramref name="duration"/> in turn, <paramref name="rounds"/> times, and keeps
    /// each one's fastest run: on a shared 2-core machine the minimum over short interleaved windows is the figure
    /// least disturbed by other tenants, and interleaving exposes all candidates to the same conditions.</summary>
    public static async Task<(double NsPerOp, double BytesPerOp)[]> InterleavedAsync(IReadOnlyList<Func<Task>> operations, int rounds, TimeSpan duration)
    {
        var best = Enumerable.Repeat((NsPerOp: double.MaxValue, BytesPerOp: 0d), operations.Count).ToArray();
        for (var round = 0; round < rounds; round++)
        {
            for (var i = 0; i < operations.Count; i++)
            {
                var result = await AsyncAsync(operations[i], duration, warmup: round == 0 ? 20 : 2);
                if (result.NsPerOp < best[i].NsPerOp)
                {
                    best[i] = result;
                }
            }
        }

        return best;
    }

    /// <summary>Synchronous counterpart of <see cref="InterleavedAsync"/>.</summary>
    public static (double NsPerOp, double BytesPerOp)[] Interleaved(IReadOnlyList<Action> operations, int rounds, TimeSpan duration)
    {
        var best = Enumerable.Repeat((NsPerOp: double.MaxValue, BytesPerOp: 0d), operations.Count).ToArray();
        for (var round = 0; round < rounds; round++)
        {
            for (var i = 0; i < operations.Count; i++)
            {
                var result = Sync(operations[i], duration, warmup: round == 0 ? 200 : 5);
                if (result.NsPerOp < best[i].NsPerOp)
                {
                    best[i] = result;
                }
            }
        }

        return best;
    }

    /// <summary>Best of several runs: the least disturbed by the other tenant of a 2-core machine.</summary>
    public static (double NsPerOp, double BytesPerOp) BestOf(int runs, Func<(double, double)> run)
    {
        var best = (double.MaxValue, 0d);
        for (var i = 0; i < runs; i++)
        {
            var result = run();
            if (result.Item1 < best.Item1)
            {
                best = result;
            }
        }

        return best;
    }
}
