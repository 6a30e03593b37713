using System.IO.Pipelines;
using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace EmbeddingKit.TestInfrastructure.FakeProvider;

/// <summary>
/// A local HTTP server of images and misbehaving asset URLs, for asset-fetcher tests: <c>/cat.png</c> (a small PNG),
/// <c>/big.png</c> (an endless PNG body without a length), <c>/page.html</c>, <c>/missing.png</c> (404),
/// <c>/busy.png</c> (503), <c>/redirect?to=…</c> (302 to the given URL) and <c>/loop</c> (redirects to itself).
/// </summary>
public sealed class FakeAssetServer : IAsyncDisposable
{
    /// <summary>The bytes of <c>/cat.png</c>: a PNG signature and a few bytes (not a decodable image; fetchers do not decode).</summary>
    public static readonly byte[] CatPng = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 1, 2, 3, 4, 5, 6, 7, 8];

    private readonly WebApplication _app;
    private long _requests;
    private readonly SentBytes _sent;
    private int _bigFinished;

    private FakeAssetServer(WebApplication app, SentBytes sent)
    {
        _app = app;
        _sent = sent;
    }

    /// <summary>Gets the server's root, <c>http://127.0.0.1:port/</c>.</summary>
    public Uri BaseUrl { get; private set; } = null!;

    /// <summary>Gets the bytes, headers included, that the server handed to its connections' sockets. Counted below
    /// HTTP: once a client has gone away, Kestrel discards what a handler writes without an error, so a handler's own
    /// count would include bytes nobody sent.</summary>
    public long BytesSent => Interlocked.Read(ref _sent.Count);

    /// <summary>Gets whether a <c>/big.png</c> response has ended (sent whole, or the client went away).</summary>
    public bool BigFinished => Volatile.Read(ref _bigFinished) != 0;

    /// <summary>Gets the requests received.</summary>
    public long RequestCount => Interlocked.Read(ref _requests);

    /// <summary>Starts a server on 127.0.0.1 with an ephemeral port.</summary>
    /// <param name="cancellationToken">Cancels the start.</param>
    /// <returns>The running server; dispose it to stop.</returns>
    public static async Task<FakeAssetServer> StartAsync(CancellationToken cancellationToken = default)
    {
        FakeAssetServer? server = null;
        var sent = new SentBytes();
        var (_, address) = await LoopbackWebApp.StartAsync(
            app => server = Map(app, sent),
            limits: null,
            listen: endpoint => endpoint.Use(next => connection =>
            {
                connection.Transport = new CountedPipe(connection.Transport, sent);
                return next(connection);
            }),
            cancellationToken).ConfigureAwait(false);
        server!.BaseUrl = address;
        return server;
    }

    private static FakeAssetServer Map(WebApplication app, SentBytes sent)
    {
        var server = new FakeAssetServer(app, sent);
        app.Use(async (context, next) =>
        {
            Interlocked.Increment(ref server._requests);
            await next(context).ConfigureAwait(false);
        });
        app.MapGet("/cat.png", async context =>
        {
            context.Response.ContentType = "image/png";
            context.Response.ContentLength = CatPng.Length;
            await context.Response.Body.WriteAsync(CatPng, context.RequestAborted).ConfigureAwait(false);
        });
        app.MapGet("/big.png", async context =>
        {
            context.Response.ContentType = "image/png";
            var chunk = new byte[64 * 1024];
            try
            {
                for (var i = 0; i < 1_000 && !context.RequestAborted.IsCancellationRequested; i++)
                {
                    await context.Response.Body.WriteAsync(chunk, context.RequestAborted).ConfigureAwait(false);
                }
            }
            finally
            {
                Volatile.Write(ref server._bigFinished, 1);
            }
        });
        app.MapGet("/page.html", context =>
        {
            context.Response.ContentType = "text/html";
            return context.Response.WriteAsync("<html><body>not an image</body></html>", context.RequestAborted);
        });
        app.MapGet("/missing.png", context =>
        {
            context.Response.StatusCode = 404;
            return Task.CompletedTask;
        });
        app.MapGet("/busy.png", context =>
        {
            context.Response.StatusCode = 503;
            return Task.CompletedTask;
        });
        app.MapGet("/redirect", context =>
        {
            context.Response.StatusCode = 302;
            context.Response.Headers.Location = context.Request.Query["to"].ToString();
            return Task.CompletedTask;
        });
        app.MapGet("/loop", context =>
        {
            context.Response.StatusCode = 302;
            context.Response.Headers.Location = "/loop";
            return Task.CompletedTask;
        });
        return server;
    }

    /// <summary>The absolute URL of a path on this server.</summary>
    /// <param name="pathAndQuery">For example <c>cat.png</c>.</param>
    /// <returns>The URL.</returns>
    public Uri Url(string pathAndQuery) => new(BaseUrl, pathAndQuery);

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
    }

    private sealed class SentBytes
    {
        public long Count;
    }

    /// <summary>A connection's pipes with the output counted as the server writes it to the socket's side.</summary>
    private sealed class CountedPipe(IDuplexPipe inner, SentBytes sent) : IDuplexPipe
    {
        public PipeReader Input => inner.Input;

        public PipeWriter Output { get; } = new CountedWriter(inner.Output, sent);
    }

    private sealed class CountedWriter(PipeWriter inner, SentBytes sent) : PipeWriter
    {
        public override void Advance(int bytes)
        {
            Interlocked.Add(ref sent.Count, bytes);
            inner.Advance(bytes);
        }

        public override Memory<byte> GetMemory(int sizeHint = 0) => inner.GetMemory(sizeHint);

        public override Span<byte> GetSpan(int sizeHint = 0) => inner.GetSpan(sizeHint);

        public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default) => inner.FlushAsync(cancellationToken);

        public override void CancelPendingFlush() => inner.CancelPendingFlush();

        public override void Complete(Exception? exception = null) => inner.Complete(exception);

        public override ValueTask CompleteAsync(Exception? exception = null) => inner.CompleteAsync(exception);
    }
}
