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
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
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
