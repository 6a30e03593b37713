using System.ClientModel;
using System.ClientModel.Primitives;
using System.Runtime.InteropServices;
using System.Text.Json;
using BenchmarkDotNet.Attributes;
using EmbeddingKit.OpenAI;
using EmbeddingKit.OpenAI.Internal;
using Microsoft.Extensions.AI;
using OpenAI;
using OpenAI.Embeddings;

namespace EmbeddingKit.Benchmarks;

/// <summary>Decoding a canned 100 × 1536 base64 embeddings response: EmbeddingKit vs the OpenAI SDK vs MEAI.OpenAI,
/// all fed through an in-memory <see cref="HttpMessageHandler"/>.</summary>
[MemoryDiagnoser]
public class DecodeBenchmarks
{
    private const int Count = 100;
    private const int Dims = 1536;
    private const string Model = "text-embedding-3-small";

    private readonly string[] _inputs = Enumerable.Range(0, Count).Select(i => $"input {i}").ToArray();
    private readonly float[]?[] _destination = new float[]?[Count];
    private byte[] _body = [];
    private IEmbeddingGenerator<string, Embedding<float>> _embeddingKit = null!;
    private EmbeddingClient _sdk = null!;
    private IEmbeddingGenerator<string, Embedding<float>> _meai = null!;

    [GlobalSetup]
    public void Setup()
    {
        _body = CreateBody();
        var endpoint = new Uri("http://canned.invalid/v1");
        _embeddingKit = OpenAICompatibleEmbeddingGenerator.Create(
            new OpenAICompatibleEmbeddingOptions { BaseUrl = endpoint, ApiKey = "k", Model = Model, MaxInputsPerRequest = Count },
            new HttpClient(new CannedHandler(_body)));
        _sdk = new EmbeddingClient(Model, new ApiKeyCredential("k"), new OpenAIClientOptions
        {
            Endpoint = endpoint,
            Transport = new HttpClientPipelineTransport(new HttpClient(new CannedHandler(_body))),
        });
        _meai = _sdk.AsIEmbeddingGenerator();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _embeddingKit.Dispose();
        _meai.Dispose();
    }

    [Benchmark(Baseline = true)]
    public Task<GeneratedEmbeddings<Embedding<float>>> EmbeddingKitClient() => _embeddingKit.GenerateAsync(_inputs);

    [Benchmark]
    public int EmbeddingKitParserOnly()
    {
        Array.Clear(_destination);
        return EmbeddingResponseParser.Parse(_body, _destination, Dims, new ProviderCallInfo("bench", Model, System.Net.HttpStatusCode.OK, null)).Dimensions;
    }

    [Benchmark]
    public async Task<int> OpenAISdk() => (await _sdk.GenerateEmbeddingsAsync(_inputs)).Value.Count;

    [Benchmark]
    public Task<GeneratedEmbeddings<Embedding<float>>> MeaiOpenAI() => _meai.GenerateAsync(_inputs);

    private static byte[] CreateBody()
    {
        var random = new Random(42);
        using var stream = new MemoryStream();
        using (var writer = new Utf8JsonWriter(stream))
        {
            writer.WriteStartObject();
            writer.WriteString("object", "list");
            writer.WriteStartArray("data");
            for (var i = 0; i < Count; i++)
            {
                var vector = new float[Dims];
                for (var j = 0; j < Dims; j++)
                {
                    vector[j] = (float)((random.NextDouble() * 2) - 1) / 40f;
                }

                writer.WriteStartObject();
                writer.WriteString("object", "embedding");
                writer.WriteNumber("index", i);
                writer.WritePropertyName("embedding");
                writer.WriteBase64StringValue(MemoryMarshal.AsBytes(vector.AsSpan()));
                writer.WriteEndObject();
            }

            writer.WriteEndArray();
            writer.WriteString("model", Model);
            writer.WriteStartObject("usage");
            writer.WriteNumber("prompt_tokens", 200);
            writer.WriteNumber("total_tokens", 200);
            writer.WriteEndObject();
            writer.WriteEndObject();
        }

        return stream.ToArray();
    }
}
