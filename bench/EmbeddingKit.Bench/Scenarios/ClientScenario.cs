using System.ClientModel;
using System.ClientModel.Primitives;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using EmbeddingKit.OpenAI;
using EmbeddingKit.OpenAI.Internal;
using EmbeddingKit.TestInfrastructure.FakeProvider;
using Microsoft.Extensions.AI;
using OpenAI;
using OpenAI.Embeddings;

namespace EmbeddingKit.Bench.Scenarios;

/// <summary>
/// The same canned 100 × 1536 responses decoded by EmbeddingKit, the official OpenAI SDK and
/// Microsoft.Extensions.AI.OpenAI: in memory through an HttpMessageHandler, and over loopback HTTP from the fake
/// provider serving precomputed bodies. Floats are checked bit-exact across all three.
/// </summary>
internal sealed class ClientScenario : IBenchScenario
{
    private const int Count = 100;
    private const int Dims = 1536;
    private const string Model = "text-embedding-3-small";
    private const int Rounds = 12;
    private static readonly TimeSpan Window = TimeSpan.FromMilliseconds(250);

    public string Name => "client";

    public string Description => "decode 100 x 1536 embeddings: EmbeddingKit vs OpenAI SDK 2.15 vs MEAI.OpenAI (in memory and loopback)";

    public async Task<BenchResult> RunAsync(BenchContext context, CancellationToken cancellationToken)
    {
        var result = new BenchResult { TableHeader = ["client", "format", "us/vector", "bytes/embedding", "note"] };
        var vectors = BenchCanned.Vectors(Count, Dims);
        var inputs = BenchCanned.Inputs(Count);
        var base64Body = FakeResponseBodies.Create(vectors, base64: true, Model, promptTokens: 200);
        var floatBody = FakeResponseBodies.Create(vectors, base64: false, Model, promptTokens: 200);
        var endpoint = new Uri("http://canned.invalid/v1");

        // --- In memory, base64 ---
        using var ekBase64 = CreateEmbeddingKit(endpoint, new HttpClient(new BenchCanned.Handler(base64Body)), EmbeddingEncodingFormat.Base64);
        var sdkBase64 = CreateSdk(endpoint, new HttpClient(new BenchCanned.Handler(base64Body)));
        using var meaiBase64 = sdkBase64.AsIEmbeddingGenerator();

        Check("embeddingkit", vectors, (await ekBase64.GenerateAsync(inputs, cancellationToken: cancellationToken)).Select(e => e.Vector));
        Check("openai-sdk", vectors, (await sdkBase64.GenerateEmbeddingsAsync(inputs, cancellationToken: cancellationToken)).Value.Select(e => e.ToFloats()));
        Check("meai", vectors, (await meaiBase64.GenerateAsync(inputs, cancellationToken: cancellationToken)).Select(e => e.Vector));
        context.Log.WriteLine("  bit-exact check passed for EmbeddingKit, OpenAI SDK and MEAI (base64)");

        // Parser alone, body already in memory (what a reused buffer costs).
        var destination = new float[]?[Count];
        var info = new ProviderCallInfo("bench", Model, System.Net.HttpStatusCode.OK, null);
        var runs = await Measure.InterleavedAsync(
        [
            () => ekBase64.GenerateAsync(inputs, cancellationToken: cancellationToken),
            () => sdkBase64.GenerateEmbeddingsAsync(inputs, cancellationToken: cancellationToken),
            () => meaiBase64.GenerateAsync(inputs, cancellationToken: cancellationToken),
            () =>
            {
                Array.Clear(destination);
                EmbeddingResponseParser.Parse(base64Body, destination, Dims, info);
                return Task.CompletedTask;
            },
        ], Rounds, Window);
        var (ek, sdk, meai, parser) = (runs[0], runs[1], runs[2], runs[3]);

        result.Metrics["decode_us_per_vector"] = Round(ek.NsPerOp / Count / 1000);
        result.Metrics["openai_sdk_decode_us_per_vector"] = Round(sdk.NsPerOp / Count / 1000);
        result.Metrics["meai_decode_us_per_vector"] = Round(meai.NsPerOp / Count / 1000);
        result.Metrics["parser_only_decode_us_per_vector"] = Round(parser.NsPerOp / Count / 1000);
        result.Metrics["bytes_per_embedding"] = Math.Round(ek.BytesPerOp / Count);
        result.Metrics["openai_sdk_bytes_per_embedding"] = Math.Round(sdk.BytesPerOp / Count);
        result.Metrics["meai_bytes_per_embedding"] = Math.Round(meai.BytesPerOp / Count);
        result.Metrics["vector_own_bytes"] = 4 * Dims;
        result.Metrics["bytes_per_embedding_ratio_to_vector"] = Round(ek.BytesPerOp / Count / (4.0 * Dims));
        result.Metrics["openai_sdk_bytes_per_response"] = Math.Round(sdk.BytesPerOp);
        result.Metrics["meai_bytes_per_response"] = Math.Round(meai.BytesPerOp);
        result.Metrics["bytes_per_response"] = Math.Round(ek.BytesPerOp);
        AddRow(result, "EmbeddingKit", "base64", ek, "full client, in-memory handler");
        AddRow(result, "EmbeddingKit parser", "base64", parser, "Utf8JsonReader + Base64.DecodeFromUtf8 only");
        AddRow(result, "OpenAI SDK 2.15", "base64", sdk, "EmbeddingClient");
        AddRow(result, "MEAI.OpenAI 10.11", "base64", meai, "AsIEmbeddingGenerator()");

        // --- In memory, float JSON (a provider that ignores encoding_format) ---
        using var ekFloat = CreateEmbeddingKit(endpoint, new HttpClient(new BenchCanned.Handler(floatBody)), EmbeddingEncodingFormat.Base64);
        Check("embeddingkit-float", vectors, (await ekFloat.GenerateAsync(inputs, cancellationToken: cancellationToken)).Select(e => e.Vector));
        var floatRuns = await Measure.InterleavedAsync(
        [
            () => ekFloat.GenerateAsync(inputs, cancellationToken: cancellationToken),
            () =>
            {
                Array.Clear(destination);
                EmbeddingResponseParser.Parse(floatBody, destination, Dims, info);
                return Task.CompletedTask;
            },
            () =>
            {
                JsonSerializer.Deserialize(floatBody, BenchJsonContext.Default.FloatResponse);
                return Task.CompletedTask;
            },
        ], Rounds / 2, Window * 2);
        var (ekFloatRun, floatParser, stj) = (floatRuns[0], floatRuns[1], floatRuns[2]);
        Check("system-text-json-float", vectors, JsonSerializer.Deserialize(floatBody, BenchJsonContext.Default.FloatResponse)!.Data.Select(d => (ReadOnlyMemory<float>)d.Embedding));
        result.Metrics["float_decode_us_per_vector"] = Round(ekFloatRun.NsPerOp / Count / 1000);
        result.Metrics["stj_float_decode_us_per_vector"] = Round(stj.NsPerOp / Count / 1000);
        result.Metrics["float_parser_only_us_per_vector"] = Round(floatParser.NsPerOp / Count / 1000);
        AddRow(result, "EmbeddingKit", "float", ekFloatRun, "asked base64, provider sent floats");
        AddRow(result, "EmbeddingKit parser", "float", floatParser, "parser only, body in memory");
        AddRow(result, "System.Text.Json DTO", "float", stj, "JsonSerializer.Deserialize, body in memory");

        var sdkFloat = CreateSdk(endpoint, new HttpClient(new BenchCanned.Handler(floatBody)));
        string sdkFloatOutcome;
        try
        {
            var floats = (await sdkFloat.GenerateEmbeddingsAsync(inputs, cancellationToken: cancellationToken)).Value;
            Check("openai-sdk-float", vectors, floats.Select(e => e.ToFloats()));
            sdkFloatOutcome = "decoded";
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            sdkFloatOutcome = "fails: " + ex.GetType().Name;
        }

        result.Notes["openai_sdk_on_float_body"] = sdkFloatOutcome;
        context.Log.WriteLine($"  OpenAI SDK given a float body when it asked for base64: {sdkFloatOutcome}");

        // --- Batching against the fake provider: requests == ceil(inputs / limit) ---
        await using (var server = await FakeEmbeddingServer.StartAsync(cancellationToken))
        {
            server.Dimensions = 64;
            server.MaxBatchSize = 96;
            using var batching = OpenAICompatibleEmbeddingGenerator.Create(new OpenAICompatibleEmbeddingOptions
            {
                BaseUrl = server.BaseUrl,
                ApiKey = "bench",
                Model = "bench-model",
                MaxInputsPerRequest = 96,
            });
            await batching.GenerateAsync(BenchCanned.Inputs(1000), cancellationToken: cancellationToken);
            result.Metrics["batching_inputs"] = 1000;
            result.Metrics["batching_requests"] = server.RequestCount;
            result.Metrics["batching_expected_requests"] = Math.Ceiling(1000 / 96.0);
        }

        // --- Loopback HTTP: fake provider serving the precomputed base64 body ---
        await using (var server = await FakeEmbeddingServer.StartAsync(cancellationToken))
        {
            server.CannedBody = base64Body;
            using var ekHttp = CreateEmbeddingKit(server.BaseUrl, null, EmbeddingEncodingFormat.Base64);
            var sdkHttp = CreateSdk(server.BaseUrl, new HttpClient());
            Check("embeddingkit-loopback", vectors, (await ekHttp.GenerateAsync(inputs, cancellationToken: cancellationToken)).Select(e => e.Vector));
            Check("openai-sdk-loopback", vectors, (await sdkHttp.GenerateEmbeddingsAsync(inputs, cancellationToken: cancellationToken)).Value.Select(e => e.ToFloats()));

            var loopDuration = TimeSpan.FromSeconds(4);
            var ekRate = Math.Max(
                await ThroughputAsync(() => ekHttp.GenerateAsync(inputs, cancellationToken: cancellationToken), loopDuration, cancellationToken),
                await ThroughputAsync(() => ekHttp.GenerateAsync(inputs, cancellationToken: cancellationToken), loopDuration, cancellationToken));
            var sdkRate = Math.Max(
                await ThroughputAsync(() => sdkHttp.GenerateEmbeddingsAsync(inputs, cancellationToken: cancellationToken), loopDuration, cancellationToken),
                await ThroughputAsync(() => sdkHttp.GenerateEmbeddingsAsync(inputs, cancellationToken: cancellationToken), loopDuration, cancellationToken));
            result.Metrics["embeddingkit_per_s"] = Math.Round(ekRate);
            result.Metrics["openai_sdk_per_s"] = Math.Round(sdkRate);
            result.Notes["loopback"] = "4 concurrent callers, 100 inputs per request, same process as the Kestrel fake on 127.0.0.1; best of 2 runs of 4 s";
        }

        result.Metrics["speedup_vs_openai_sdk"] = Round(result.Metrics["openai_sdk_decode_us_per_vector"] / result.Metrics["decode_us_per_vector"]);
        result.Notes["client_method"] = "Stopwatch loops after warm-up; candidates interleaved, 12 rounds of 250 ms (float: 6 of 500 ms), fastest round kept; bytes from GC.GetTotalAllocatedBytes(precise) over the run / embeddings; bit-exact floats checked across all clients";
        result.Notes["load_average"] = File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Trim() : "n/a";
        return result;
    }

    private static IEmbeddingGenerator<string, Embedding<float>> CreateEmbeddingKit(Uri baseUrl, HttpClient? http, EmbeddingEncodingFormat format) =>
        OpenAICompatibleEmbeddingGenerator.Create(new OpenAICompatibleEmbeddingOptions
        {
            BaseUrl = baseUrl,
            ApiKey = "bench-key",
            Model = Model,
            MaxInputsPerRequest = Count,
            EncodingFormat = format,
        }, http);

    private static EmbeddingClient CreateSdk(Uri endpoint, HttpClient http) =>
        new(Model, new ApiKeyCredential("bench-key"), new OpenAIClientOptions
        {
            Endpoint = endpoint,
            Transport = new HttpClientPipelineTransport(http),
        });

    private static async Task<double> ThroughputAsync(Func<Task> call, TimeSpan duration, CancellationToken cancellationToken)
    {
        for (var i = 0; i < 20; i++)
        {
            await call();
        }

        long calls = 0;
        var sw = Stopwatch.StartNew();
        var workers = Enumerable.Range(0, 4).Select(_ => Task.Run(async () =>
        {
            while (sw.Elapsed < duration && !cancellationToken.IsCancellationRequested)
            {
                await call();
                Interlocked.Increment(ref calls);
            }
        }, cancellationToken)).ToArray();
        await Task.WhenAll(workers);
        return calls * Count / sw.Elapsed.TotalSeconds;
    }

    private static void Check(string who, float[][] expected, IEnumerable<ReadOnlyMemory<float>> actual)
    {
        var list = actual.ToList();
        if (list.Count != expected.Length)
        {
            throw new InvalidOperationException($"{who}: {list.Count} vectors, expected {expected.Length}");
        }

        for (var i = 0; i < expected.Length; i++)
        {
            if (!list[i].Span.SequenceEqual(expected[i]))
            {
                throw new InvalidOperationException($"{who}: vector {i} is not bit-exact");
            }
        }
    }

    private static void AddRow(BenchResult result, string client, string format, (double NsPerOp, double BytesPerOp) run, string note) =>
        result.Table.Add([
            client, format, (run.NsPerOp / Count / 1000).ToString("F3", CultureInfo.InvariantCulture),
            (run.BytesPerOp / Count).ToString("F0", CultureInfo.InvariantCulture), note,
        ]);

    private static double Round(double value) => Math.Round(value, 3);
}

/// <summary>The System.Text.Json baseline for float-format bodies.</summary>
internal sealed class FloatResponse
{
    [JsonPropertyName("data")]
    public List<FloatItem> Data { get; set; } = [];
}

/// <summary>One item of <see cref="FloatResponse"/>.</summary>
internal sealed class FloatItem
{
    [JsonPropertyName("index")]
    public int Index { get; set; }

    [JsonPropertyName("embedding")]
    public float[] Embedding { get; set; } = [];
}

[JsonSerializable(typeof(FloatResponse))]
internal sealed partial class BenchJsonContext : JsonSerializerContext;
