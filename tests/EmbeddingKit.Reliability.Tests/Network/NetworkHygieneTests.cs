using EmbeddingKit.Reliability.Tests.Infrastructure;
using EmbeddingKit.Storage;
using EmbeddingKit.Tasks;
using EmbeddingKit.TestInfrastructure.FakeProvider;
using EmbeddingKit.TestInfrastructure.Postgres;
using EmbeddingKit.Vectors;
using Microsoft.Extensions.AI;

namespace EmbeddingKit.Reliability.Tests.Network;

/// <summary>
/// Network hygiene: redirects are not followed (with or without credentials; the exact request/response test is
/// EmbeddingKit.OpenAI.Tests' FaultHandlingTests.GenerateAsync_Redirect_NotFollowedAndReportedAsConfiguration),
/// response bodies are capped before buffering, and values fp16 cannot hold never reach halfvec.
/// </summary>
public sealed class NetworkHygieneTests(PostgresServer server)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Generate_RedirectToAnotherOrigin_NotFollowedTypedError()
    {
        await using var stack = await FaultStack.CreateAsync(server, cancellationToken: Ct);
        stack.Provider.InjectFault(FakeFault.Redirect, 10);
        var e = await Assert.ThrowsAnyAsync<EmbeddingKitException>(async () => await stack.Generator.GenerateAsync(["hello"], cancellationToken: Ct));
        Assert.Contains("307", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(FaultStack.ApiKey, e.ToString(), StringComparison.Ordinal);
        Assert.Equal(1, stack.Provider.RequestCount); // not retried, not followed
    }

    [Fact]
    public async Task Generate_EndlessChunkedBody_CutAtMaxResponseBytesWithoutBufferingIt()
    {
        // A raw loopback server answering 200 with a chunked body that never ends (no Content-Length to refuse on):
        // the client must stop reading at MaxResponseBytes, so the server manages to send little more than that.
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        long sent = 0;
        var serving = Task.Run(async () =>
        {
            using var client = await listener.AcceptTcpClientAsync(Ct);
            var stream = client.GetStream();
            var request = new byte[64 * 1024];
            _ = await stream.ReadAsync(request, Ct);
            await stream.WriteAsync("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"u8.ToArray(), Ct);
            var chunk = System.Text.Encoding.ASCII.GetBytes("10000\r\n" + new string(' ', 0x10000) + "\r\n");
            try
            {
                while (sent < 1L << 30)
                {
                    await stream.WriteAsync(chunk, Ct);
                    sent += 0x10000;
                }
            }
            catch (IOException)
            {
                // The client gave up: what we want.
            }
        }, Ct);

        var options = new EmbeddingKit.OpenAI.OpenAICompatibleEmbeddingOptions
        {
            BaseUrl = new Uri($"http://127.0.0.1:{port}/v1"),
            ApiKey = FaultStack.ApiKey,
            Model = "m",
            MaxResponseBytes = 1024 * 1024,
            MaxAttempts = 1,
            RequestTimeout = TimeSpan.FromSeconds(30),
        };
        using var generator = EmbeddingKit.OpenAI.OpenAICompatibleEmbeddingGenerator.Create(options);
        var e = await Assert.ThrowsAnyAsync<EmbeddingKitException>(async () => await generator.GenerateAsync(["hello"], cancellationToken: Ct));
        await serving.WaitAsync(TimeSpan.FromSeconds(30), Ct);
        Figures.Report(nameof(Generate_EndlessChunkedBody_CutAtMaxResponseBytesWithoutBufferingIt), new { cap_bytes = options.MaxResponseBytes, server_sent_bytes = Interlocked.Read(ref sent), error = e.Message });
        Assert.Contains("MaxResponseBytes", e.Message, StringComparison.Ordinal);
        Assert.True(Interlocked.Read(ref sent) < 16L * 1024 * 1024, $"the server sent {sent:N0} bytes before the client stopped reading");
    }

    [Fact]
    public async Task Fp16_ValuesOutOfRange_CaughtBeforeHalfvec()
    {
        // Raw conversion refuses what fp16 cannot hold; normalization scales huge provider values into range.
        Assert.Throws<InvalidVectorException>(() => VectorMath.ToHalf([1f, 70_000f], new Half[2]));
        Assert.Throws<InvalidVectorException>(() => VectorMath.ToHalf([1f, float.PositiveInfinity], new Half[2]));

        await using var stack = await FaultStack.CreateAsync(server, cancellationToken: Ct);
        var key = new EmbeddingTaskKey(FaultStack.EntityType, "inf", FaultStack.Model);
        var vector = new Half[FaultStack.Dimensions];
        vector[0] = Half.PositiveInfinity;
        await Assert.ThrowsAsync<InvalidVectorException>(async () => await stack.Storage.UpsertAsync([new EmbeddingRecord(key, vector, new byte[32], 1)], Ct));

        // End to end: a provider answering with values beyond fp16 (1e30, 3e38) still stores a finite unit vector.
        var big = new float[FaultStack.Dimensions];
        big[0] = 3e38f;
        big[1] = 1e30f;
        big[2] = -2e38f;
        stack.Provider.CannedBody = FakeResponseBodies.Create([big], base64: false);
        await stack.SeedAsync(1, cancellationToken: Ct);
        Assert.True(await stack.DrainAsync(TimeSpan.FromSeconds(30), Ct));
        var errors = await stack.TextsAsync("SELECT error FROM {dead}", Ct);
        Assert.True(errors.Count == 0, string.Join("; ", errors));
        Assert.Equal(1, await stack.CountAsync("SELECT count(*) FROM {vectors}", Ct));
        Assert.Equal(0, await stack.CountAsync("SELECT count(*) FROM {vectors} WHERE embedding::text ~* '(inf|nan)'", Ct));
        Assert.Equal(1, await stack.CountAsync("SELECT round(l2_norm(embedding)::numeric, 2)::int FROM {vectors}", Ct));
    }
}
