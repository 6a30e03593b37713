using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace EmbeddingKit.TestInfrastructure.FakeProvider;

/// <summary>
/// A local OpenAI-compatible embeddings server (Kestrel on 127.0.0.1, ephemeral port) for tests and benchmarks.
/// Serves <c>POST /embeddings</c> and <c>POST /v1/embeddings</c> for text inputs and Jina-style multimodal inputs
/// (<c>{"text":…}</c> / <c>{"image":…}</c> objects). Vectors are deterministic (<see cref="FakeResponseBodies.VectorForText"/>).
/// Every switch can be changed while it runs, from any thread; faults can be queued for the next N requests or drawn
/// at a rate.
/// </summary>
public sealed class FakeEmbeddingServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentQueue<FakeFault> _queuedFaults = new();
    private readonly ConcurrentQueue<int> _batchSizes = new();
    private readonly ConcurrentQueue<string> _requestBodies = new();
    private readonly object _rateLock = new();
    private readonly Random _random = new(12345);
    private FakeFault _rateFault;
    private double _faultRate;
    private long _requests;
    private long _inputs;
    private int _inFlight;
    private int _maxInFlight;
    private volatile int _dimensions = 384;
    private volatile int _maxBatchSize;
    private volatile FakeResponseFormat _responseFormat;
    private volatile byte[]? _cannedBody;
    private volatile string? _requiredApiKey;
    private volatile string? _lastRequestBody;
    private volatile string? _lastAuthorization;
    private long _latencyTicks;

    private FakeEmbeddingServer(WebApplication app)
    {
        _app = app;
    }

    /// <summary>Gets the base URL to give a client, ending in <c>/v1</c>.</summary>
    public Uri BaseUrl { get; private set; } = null!;

    /// <summary>Gets or sets the dimensions of returned vectors when the request does not ask. Default 384.</summary>
    public int Dimensions { get => _dimensions; set => _dimensions = value; }

    /// <summary>Gets or sets a delay before each answer. Default none.</summary>
    public TimeSpan Latency { get => new(Interlocked.Read(ref _latencyTicks)); set => Interlocked.Exchange(ref _latencyTicks, value.Ticks); }

    /// <summary>Gets or sets the most inputs per request (a 400 above it); 0 (default) for no limit.</summary>
    public int MaxBatchSize { get => _maxBatchSize; set => _maxBatchSize = value; }

    /// <summary>Gets or sets how vectors are encoded. Default <see cref="FakeResponseFormat.AsRequested"/>.</summary>
    public FakeResponseFormat ResponseFormat { get => _responseFormat; set => _responseFormat = value; }

    /// <summary>Gets or sets a fixed body served with 200 to every request that has no fault (for benchmarks).</summary>
    public byte[]? CannedBody { get => _cannedBody; set => _cannedBody = value; }

    /// <summary>Gets or sets the API key required as <c>Authorization: Bearer</c> or <c>api-key</c> (401 otherwise,
    /// with a message that echoes the key presented, as some providers do); <see langword="null"/> for none.</summary>
    public string? RequiredApiKey { get => _requiredApiKey; set => _requiredApiKey = value; }

    /// <summary>Gets or sets the header sent with 429 and 503. Default <c>Retry-After</c>.</summary>
    public string RetryAfterHeaderName { get; set; } = "Retry-After";

    /// <summary>Gets or sets the value of <see cref="RetryAfterHeaderName"/>; <see langword="null"/> sends none. Default <c>0</c>.</summary>
    public string? RetryAfterValue { get; set; } = "0";

    /// <summary>Gets or sets a top-level request field the provider does not accept (for example <c>dimensions</c> on a
    /// model without them): every request that sends it gets a 400 that rejects the request, not an input.
    /// <see langword="null"/> (default) for none.</summary>
    public string? RejectedField { get; set; }

    /// <summary>Gets or sets the message of the <see cref="RejectedField"/> 400. Default, as OpenAI words it:
    /// <c>Unsupported parameter: '{field}' is not supported with this model.</c></summary>
    public string? RejectedFieldMessage { get; set; }

    /// <summary>Gets or sets whether the <see cref="RejectedField"/> 400 names the field in <c>error.param</c> (as OpenAI
    /// does). Default true; false for providers whose error says nothing machine-readable.</summary>
    public bool RejectedFieldNamesParam { get; set; } = true;

    /// <summary>Gets or sets a text that the provider refuses in an input: a request with an input (or multimodal text
    /// item) containing it gets a 400 naming that item as <c>input[i]</c> (its position among the request's items).
    /// <see langword="null"/> (default) for none.</summary>
    public string? RejectedInputMarker { get; set; }

    /// <summary>Gets the number of requests received.</summary>
    public long RequestCount => Interlocked.Read(ref _requests);

    /// <summary>Gets the number of inputs received over all requests.</summary>
    public long InputCount => Interlocked.Read(ref _inputs);

    /// <summary>Gets the most requests that were in flight at once.</summary>
    public int MaxConcurrentRequests => Volatile.Read(ref _maxInFlight);

    /// <summary>Gets the input count of every request, in arrival order.</summary>
    public IReadOnlyList<int> BatchSizes => [.. _batchSizes];

    /// <summary>Gets the body of the last request, as text.</summary>
    public string? LastRequestBody => _lastRequestBody;

    /// <summary>Gets the body of every request since the start (or <see cref="ResetCounters"/>), in arrival order: a
    /// worker with several loops may send its inputs in more requests than one.</summary>
    public IReadOnlyList<string> RequestBodies => [.. _requestBodies];

    /// <summary>Gets the <c>Authorization</c> (or <c>api-key</c>) header of the last request.</summary>
    public string? LastAuthorization => _lastAuthorization;

    /// <summary>Starts a server on 127.0.0.1 with an ephemeral port.</summary>
    /// <param name="cancellationToken">Cancels the start.</param>
    /// <returns>The running server; dispose it to stop.</returns>
    public static async Task<FakeEmbeddingServer> StartAsync(CancellationToken cancellationToken = default)
    {
        FakeEmbeddingServer? server = null;
        var (_, address) = await LoopbackWebApp.StartAsync(
            app =>
            {
                server = new FakeEmbeddingServer(app);
                app.MapPost("/embeddings", server.HandleAsync);
                app.MapPost("/v1/embeddings", server.HandleAsync);
            },
            options => options.Limits.MaxRequestBodySize = 512L * 1024 * 1024,
            cancellationToken).ConfigureAwait(false);
        server!.BaseUrl = new Uri(address, "v1");
        return server;
    }

    /// <summary>Makes the next <paramref name="count"/> requests show <paramref name="fault"/> (queued after earlier ones).</summary>
    /// <param name="fault">The fault.</param>
    /// <param name="count">How many requests.</param>
    public void InjectFault(FakeFault fault, int count = 1)
    {
        for (var i = 0; i < count; i++)
        {
            _queuedFaults.Enqueue(fault);
        }
    }

    /// <summary>Makes each request (without a queued fault) show <paramref name="fault"/> with probability
    /// <paramref name="rate"/> (0 to 1), from a fixed seed.</summary>
    /// <param name="fault">The fault.</param>
    /// <param name="rate">The probability.</param>
    public void SetFaultRate(FakeFault fault, double rate)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(rate, 0);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(rate, 1);
        lock (_rateLock)
        {
            _rateFault = fault;
            _faultRate = rate;
        }
    }

    /// <summary>Removes queued faults and the fault rate.</summary>
    public void ClearFaults()
    {
        _queuedFaults.Clear();
        SetFaultRate(FakeFault.None, 0);
    }

    /// <summary>Sets the counters back to zero.</summary>
    public void ResetCounters()
    {
        Interlocked.Exchange(ref _requests, 0);
        Interlocked.Exchange(ref _inputs, 0);
        Volatile.Write(ref _maxInFlight, 0);
        _batchSizes.Clear();
        _requestBodies.Clear();
    }

    /// <summary>Stops the server.</summary>
    /// <returns>A task that completes when it has stopped.</returns>
    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
    }

    private FakeFault NextFault()
    {
        if (_queuedFaults.TryDequeue(out var queued))
        {
            return queued;
        }

        lock (_rateLock)
        {
            return _faultRate > 0 && _random.NextDouble() < _faultRate ? _rateFault : FakeFault.None;
        }
    }

    private async Task HandleAsync(HttpContext context)
    {
        var inFlight = Interlocked.Increment(ref _inFlight);
        int seen;
        while (inFlight > (seen = Volatile.Read(ref _maxInFlight)) && Interlocked.CompareExchange(ref _maxInFlight, inFlight, seen) != seen)
        {
        }

        try
        {
            await HandleCoreAsync(context).ConfigureAwait(false);
        }
        finally
        {
            Interlocked.Decrement(ref _inFlight);
        }
    }

    private async Task HandleCoreAsync(HttpContext context)
    {
        Interlocked.Increment(ref _requests);
        var received = Stopwatch.GetTimestamp();
        var aborted = context.RequestAborted;
        using var bodyStream = new MemoryStream();
        await context.Request.Body.CopyToAsync(bodyStream, aborted).ConfigureAwait(false);
        var canned = _cannedBody;
        string? authorization = context.Request.Headers.Authorization.FirstOrDefault() ?? context.Request.Headers["api-key"].FirstOrDefault();
        _lastAuthorization = authorization;
        if (canned is null)
        {
            _lastRequestBody = Encoding.UTF8.GetString(bodyStream.GetBuffer(), 0, (int)bodyStream.Length);
            _requestBodies.Enqueue(_lastRequestBody);
        }

        var required = _requiredApiKey;
        if (required is not null && authorization != "Bearer " + required && authorization != required)
        {
            var presented = authorization?.StartsWith("Bearer ", StringComparison.Ordinal) == true ? authorization[7..] : authorization;
            await WriteErrorAsync(context, 401, $"Incorrect API key provided: {presented}. You can find your API key in your account.", "invalid_api_key").ConfigureAwait(false);
            return;
        }

        RequestShape request;
        if (canned is not null)
        {
            request = new RequestShape([], [], null, null, 0);
            request = request with { Count = CountInputs(bodyStream) };
        }
        else
        {
            try
            {
                request = ParseRequest(bodyStream);
            }
            catch (Exception ex) when (ex is JsonException or InvalidOperationException or KeyNotFoundException)
            {
                await WriteErrorAsync(context, 400, "Could not parse the request body as JSON.", "invalid_request_error").ConfigureAwait(false);
                return;
            }
        }

        Interlocked.Add(ref _inputs, request.Count);
        _batchSizes.Enqueue(request.Count);

        // Latency is the provider's whole service time: a successful response leaves `Latency` after the request arrived,
        // its vectors computed within that time (as a real provider's are), and so does every error.
        var maxBatch = _maxBatchSize;
        var tooMany = maxBatch > 0 && request.Count > maxBatch;
        var fault = tooMany ? FakeFault.None : NextFault();
        if (tooMany || fault != FakeFault.None)
        {
            await WaitForLatencyAsync(received, aborted).ConfigureAwait(false);
        }

        if (tooMany)
        {
            await WriteErrorAsync(context, 400, $"Too many inputs: {request.Count}, at most {maxBatch} per request.", "invalid_request_error").ConfigureAwait(false);
            return;
        }

        if (RejectedField is { } field && canned is null && request.Fields.Contains(field))
        {
            await WaitForLatencyAsync(received, aborted).ConfigureAwait(false);
            await WriteErrorAsync(context, 400, RejectedFieldMessage ?? $"Unsupported parameter: '{field}' is not supported with this model.", "invalid_request_error",
                RejectedFieldNamesParam ? field : null).ConfigureAwait(false);
            return;
        }

        if (RejectedInputMarker is { } marker && canned is null
            && request.Texts.Select((t, i) => (t, i)).FirstOrDefault(x => x.t?.Contains(marker, StringComparison.Ordinal) == true) is { t: not null } rejected)
        {
            await WaitForLatencyAsync(received, aborted).ConfigureAwait(false);
            await WriteErrorAsync(context, 400, $"Invalid 'input[{rejected.i}]': the input contains content this model refuses.", "invalid_request_error", "input").ConfigureAwait(false);
            return;
        }

        switch (fault)
        {
            case FakeFault.RateLimited:
                AddRetryAfter(context);
                await WriteErrorAsync(context, 429, "Rate limit reached for requests.", "rate_limit_exceeded").ConfigureAwait(false);
                return;
            case FakeFault.InternalServerError:
                await WriteErrorAsync(context, 500, "The server had an error while processing your request.", "server_error").ConfigureAwait(false);
                return;
            case FakeFault.ServiceUnavailable:
                AddRetryAfter(context);
                await WriteErrorAsync(context, 503, "The engine is currently overloaded.", "server_error").ConfigureAwait(false);
                return;
            case FakeFault.RequestTimeout:
                await WriteErrorAsync(context, 408, "Request timed out.", "timeout").ConfigureAwait(false);
                return;
            case FakeFault.BadRequest:
                await WriteErrorAsync(context, 400, "Invalid 'input[1]': maximum context length is 8192 tokens.", "invalid_request_error").ConfigureAwait(false);
                return;
            case FakeFault.Unauthorized:
                await WriteErrorAsync(context, 401, "Incorrect API key provided.", "invalid_api_key").ConfigureAwait(false);
                return;
            case FakeFault.Forbidden:
                await WriteErrorAsync(context, 403, "You are not allowed to use this model.", "forbidden").ConfigureAwait(false);
                return;
            case FakeFault.NotFound:
                await WriteErrorAsync(context, 404, $"The model '{request.Model}' does not exist.", "model_not_found").ConfigureAwait(false);
                return;
            case FakeFault.HtmlErrorPage:
                context.Response.StatusCode = 502;
                context.Response.ContentType = "text/html";
                await context.Response.WriteAsync("<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>", aborted).ConfigureAwait(false);
                return;
            case FakeFault.Redirect:
                context.Response.StatusCode = 307;
                context.Response.Headers.Location = "http://127.0.0.2:9/v1/embeddings";
                return;
            case FakeFault.ConnectionReset:
                context.Abort();
                return;
            case FakeFault.Hang:
                await Task.Delay(Timeout.Infinite, aborted).ConfigureAwait(false);
                return;
            case FakeFault.MalformedJson:
                await WriteBodyAsync(context, 200, "application/json", "{\"object\":\"list\",\"data\":[{\"index\":0,\"embedding\":nope}"u8.ToArray()).ConfigureAwait(false);
                return;
            default:
                break;
        }

        if (canned is not null && fault == FakeFault.None)
        {
            await WaitForLatencyAsync(received, aborted).ConfigureAwait(false);
            await WriteBodyAsync(context, 200, "application/json", canned).ConfigureAwait(false);
            return;
        }

        var vectors = new List<float[]>(request.Count);
        var dimensions = request.Dimensions ?? _dimensions;
        for (var i = 0; i < request.Count; i++)
        {
            vectors.Add(request.Texts[i] is { } text
                ? FakeResponseBodies.VectorForText(text, dimensions)
                : FakeResponseBodies.VectorForImage(request.Images[i]!, dimensions));
        }

        var indexes = Enumerable.Range(0, vectors.Count).ToList();
        switch (fault)
        {
            case FakeFault.WrongDimensions:
                for (var i = 0; i < vectors.Count; i++)
                {
                    vectors[i] = vectors[i][..^1];
                }

                break;
            case FakeFault.NaN:
                vectors[0][0] = float.NaN;
                break;
            case FakeFault.ZeroVector:
                Array.Clear(vectors[0]);
                break;
            case FakeFault.FewerItems:
                vectors.RemoveAt(vectors.Count - 1);
                indexes.RemoveAt(indexes.Count - 1);
                break;
            case FakeFault.ShuffledIndexes:
                vectors.Reverse();
                indexes.Reverse();
                break;
            case FakeFault.DuplicateIndex when indexes.Count > 1:
                indexes[^1] = indexes[0];
                break;
            default:
                break;
        }

        var base64 = _responseFormat switch
        {
            FakeResponseFormat.Base64 => true,
            FakeResponseFormat.Float => false,
            _ => request.EncodingFormat == "base64",
        };
        if (fault == FakeFault.NaN)
        {
            base64 = true;
        }

        await WaitForLatencyAsync(received, aborted).ConfigureAwait(false);
        if (fault == FakeFault.TruncatedJson)
        {
            var body = FakeResponseBodies.Create(vectors, base64, request.Model ?? "fake-embedding", indexes, request.Count * 3L);
            await WriteBodyAsync(context, 200, "application/json", body[..(body.Length / 2)]).ConfigureAwait(false);
            return;
        }

        // Straight into the response pipe (chunked): a body of 64 × 1536-d vectors is hundreds of kilobytes, which as
        // one array would land on the large object heap on every request.
        context.Response.StatusCode = 200;
        context.Response.ContentType = "application/json";
        FakeResponseBodies.Write(context.Response.BodyWriter, vectors, base64, request.Model ?? "fake-embedding", indexes, request.Count * 3L);
        await context.Response.BodyWriter.FlushAsync(context.RequestAborted).ConfigureAwait(false);
    }

    private async Task WaitForLatencyAsync(long received, CancellationToken aborted)
    {
        var remaining = Latency - Stopwatch.GetElapsedTime(received);
        if (remaining > TimeSpan.Zero)
        {
            await Task.Delay(remaining, aborted).ConfigureAwait(false);
        }
    }

    private void AddRetryAfter(HttpContext context)
    {
        var value = RetryAfterValue;
        if (value is not null)
        {
            context.Response.Headers[RetryAfterHeaderName] = value;
        }
    }

    private static async Task WriteErrorAsync(HttpContext context, int status, string message, string type, string? param = null)
    {
        context.Response.Headers["x-request-id"] = "req_fake_" + status.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var body = JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, object>
        {
            ["error"] = new Dictionary<string, object?> { ["message"] = message, ["type"] = type, ["param"] = param, ["code"] = type },
        });
        await WriteBodyAsync(context, status, "application/json", body).ConfigureAwait(false);
    }

    private static async Task WriteBodyAsync(HttpContext context, int status, string contentType, byte[] body)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = contentType;
        context.Response.ContentLength = body.Length;
        await context.Response.Body.WriteAsync(body, context.RequestAborted).ConfigureAwait(false);
    }

    private static int CountInputs(MemoryStream body)
    {
        // Canned mode: count the inputs cheaply without materializing them.
        var reader = new Utf8JsonReader(body.GetBuffer().AsSpan(0, (int)body.Length));
        while (reader.Read())
        {
            if (reader.TokenType == JsonTokenType.PropertyName && reader.CurrentDepth == 1 && reader.ValueTextEquals("input"u8))
            {
                reader.Read();
                if (reader.TokenType != JsonTokenType.StartArray)
                {
                    return 1;
                }

                var count = 0;
                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                {
                    count++;
                    if (reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray)
                    {
                        reader.Skip();
                    }
                }

                return count;
            }
        }

        return 0;
    }

    private static RequestShape ParseRequest(MemoryStream body)
    {
        using var document = JsonDocument.Parse(body.GetBuffer().AsMemory(0, (int)body.Length));
        var root = document.RootElement;
        var model = root.TryGetProperty("model", out var m) ? m.GetString() : null;
        var format = root.TryGetProperty("encoding_format", out var f) ? f.GetString() : null;
        int? dimensions = root.TryGetProperty("dimensions", out var d) && d.ValueKind == JsonValueKind.Number ? d.GetInt32() : null;
        var texts = new List<string?>();
        var images = new List<string?>();
        var input = root.GetProperty("input");
        if (input.ValueKind == JsonValueKind.String)
        {
            texts.Add(input.GetString());
            images.Add(null);
        }
        else
        {
            foreach (var item in input.EnumerateArray())
            {
                if (item.ValueKind == JsonValueKind.String)
                {
                    texts.Add(item.GetString());
                    images.Add(null);
                }
                else if (item.TryGetProperty("text", out var text))
                {
                    texts.Add(text.GetString());
                    images.Add(null);
                }
                else
                {
                    texts.Add(null);
                    images.Add(item.GetProperty("image").GetString());
                }
            }
        }

        return new RequestShape(texts, images, model, format, texts.Count)
        {
            Dimensions = dimensions,
            Fields = new HashSet<string>(root.EnumerateObject().Select(p => p.Name), StringComparer.Ordinal),
        };
    }

    private sealed record RequestShape(IReadOnlyList<string?> Texts, IReadOnlyList<string?> Images, string? Model, string? EncodingFormat, int Count)
    {
        public int? Dimensions { get; init; }

        public IReadOnlySet<string> Fields { get; init; } = new HashSet<string>(StringComparer.Ordinal);
    }
}
