using System.Net;
using System.Net.Http.Headers;
using EmbeddingKit.TestInfrastructure.FakeProvider;

namespace EmbeddingKit.Bench.Scenarios;

/// <summary>Canned embeddings responses and an in-memory handler that serves them.</summary>
internal static class BenchCanned
{
    public static float[][] Vectors(int count, int dimensions) =>
        Enumerable.Range(0, count).Select(i => FakeResponseBodies.RandomUnitVector(1000 + i, dimensions)).ToArray();

    public static string[] Inputs(int count) => Enumerable.Range(0, count).Select(i => $"input {i}").ToArray();

    /// <summary>Serves the same body to every request, without touching the network.</summary>
    internal sealed class Handler(byte[] body) : HttpMessageHandler
    {
        private static readonly MediaTypeHeaderValue Json = new("application/json");

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var content = new ByteArrayContent(body);
            content.Headers.ContentType = Json;
            return Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK) { Content = content, RequestMessage = request });
        }
    }
}
