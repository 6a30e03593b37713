using System.Buffers;
using System.Net;
using System.Net.Http.Headers;
using System.Runtime.ExceptionServices;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Polly;
using Polly.Retry;
using Polly.Timeout;

namespace EmbeddingKit.OpenAI.Internal;

/// <summary>
/// Sends embedding requests: bounded concurrency, per-attempt and total timeouts, Polly retries honouring the
/// provider's wait (capped), the body read into a pooled buffer with a size cap, and typed errors.
/// </summary>
internal sealed class EmbeddingTransport : IDisposable
{
    private static readonly MediaTypeHeaderValue JsonMediaType = new("application/json");
    private static readonly TimeSpan MaxPassedWait = TimeSpan.FromDays(7);

    private readonly HttpClient _http;
    private readonly bool _ownsHttp;
    private readonly OpenAICompatibleEmbeddingOptions _options;
    private readonly ResiliencePipeline _pipeline;
    private readonly SemaphoreSlim _gate;
    private readonly ILogger _logger;
    private readonly TimeProvider _timeProvider;
    private readonly string? _authorization;

    public EmbeddingTransport(OpenAICompatibleEmbeddingOptions options, HttpClient? httpClient, ILogger? logger, TimeProvider? timeProvider)
    {
        _options = options;
        _logger = logger ?? NullLogger.Instance;
        _timeProvider = timeProvider ?? TimeProvider.System;
        if (httpClient is null)
        {
            // Redirects are not followed: a redirect would carry the API key to another origin.
            _http = new HttpClient(new SocketsHttpHandler
            {
                AllowAutoRedirect = false,
                AutomaticDecompression = DecompressionMethods.All,
                PooledConnectionLifetime = TimeSpan.FromMinutes(5),
                MaxConnectionsPerServer = Math.Max(options.MaxConcurrentRequests, 2),
            })
            {
                Timeout = Timeout.InfiniteTimeSpan,
            };
            _ownsHttp = true;
        }
        else
        {
            _http = httpClient;
        }

        Endpoint = new Uri(options.BaseUrl!.AbsoluteUri.TrimEnd('/') + "/embeddings");
        if (options.ApiKey is not null)
        {
            _authorization = string.Equals(options.ApiKeyHeaderName, "Authorization", StringComparison.OrdinalIgnoreCase)
                ? "Bearer " + options.ApiKey
                : options.ApiKey;
        }

        _gate = new SemaphoreSlim(options.MaxConcurrentRequests, options.MaxConcurrentRequests);
        _pipeline = BuildPipeline();
    }

    public Uri Endpoint { get; }

    public OpenAICompatibleEmbeddingOptions Options => _options;

    public TimeProvider TimeProvider => _timeProvider;

    public ILogger Logger => _logger;

    /// <summary>Sends one request (with retries) and parses its response into <paramref name="destination"/>.</summary>
    public async Task<ParsedResponse> SendAsync(
        ReadOnlyMemory<byte> body, Memory<float[]?> destination, int batchOffset, string model, int? expectedDimensions,
        CancellationToken cancellationToken)
    {
        var state = new AttemptState(this, body, destination, batchOffset, model, expectedDimensions);
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return await _pipeline.ExecuteAsync(
                static (s, token) => s.Transport.AttemptAsync(s, token), state, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutRejectedException ex)
        {
            if (state.LastError is { } last)
            {
                ExceptionDispatchInfo.Throw(last);
            }

            var info = new ProviderCallInfo(_options.ProviderName, model, null, null);
            throw ProviderErrors.Transient(info, $"no usable response within the total timeout of {_options.TotalTimeout}", ex, _options.ApiKey);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Sends one attempt of a request, without retries, waits or concurrency limit: the text client puts those
    /// around it as middleware.</summary>
    public ValueTask<ParsedResponse> SendOnceAsync(
        ReadOnlyMemory<byte> body, Memory<float[]?> destination, int batchOffset, string model, int? expectedDimensions, int attempt,
        CancellationToken cancellationToken)
    {
        var state = new AttemptState(this, body, destination, batchOffset, model, expectedDimensions) { Attempts = attempt - 1 };
        return AttemptAsync(state, cancellationToken);
    }

    /// <summary>Logs a retry the way this client always has (event 3003).</summary>
    public void LogRetry(Exception error, int attempt, TimeSpan delay)
    {
        if (_logger.IsEnabled(LogLevel.Warning))
        {
            Log.RetryScheduled(_logger, _options.ProviderName, attempt, error.Message, delay.TotalMilliseconds);
        }
    }

    public void Dispose()
    {
        _gate.Dispose();
        if (_ownsHttp)
        {
            _http.Dispose();
        }
    }

    private ResiliencePipeline BuildPipeline()
    {
        var builder = new ResiliencePipelineBuilder { TimeProvider = _timeProvider };
        if (_options.TotalTimeout != Timeout.InfiniteTimeSpan)
        {
            builder.AddTimeout(_options.TotalTimeout);
        }

        if (_options.MaxAttempts > 1)
        {
            builder.AddRetry(new RetryStrategyOptions
            {
                // A wait longer than MaxRetryAfter is not slept here: the exception carries it to the caller (the queue
                // defers the tasks, or pauses the model until then) instead of sending the batch again every MaxRetryAfter.
                ShouldHandle = args => ValueTask.FromResult(args.Outcome.Exception is EmbeddingKitException { IsTransient: true } e
                    && !(AskedWait(e) > _options.MaxRetryAfter)),
                MaxRetryAttempts = _options.MaxAttempts - 1,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = _options.BaseDelay,
                MaxDelay = _options.MaxDelay,
                DelayGenerator = args =>
                {
                    var asked = AskedWait(args.Outcome.Exception);
                    return ValueTask.FromResult(asked is { } wait ? (TimeSpan?)Cap(wait) : null);
                },
                OnRetry = args =>
                {
                    if (_logger.IsEnabled(LogLevel.Warning))
                    {
                        Log.RetryScheduled(_logger, _options.ProviderName, args.AttemptNumber + 1,
                            args.Outcome.Exception?.Message ?? "failure", args.RetryDelay.TotalMilliseconds);
                    }

                    return default;
                },
            });
        }

        return builder.Build();
    }

    private TimeSpan Cap(TimeSpan wait) => wait > _options.MaxRetryAfter ? _options.MaxRetryAfter : wait;

    /// <summary>The provider's wait as the caller sees it: passed through, bounded only against absurd values.</summary>
    private static TimeSpan Bound(TimeSpan wait) => wait > MaxPassedWait ? MaxPassedWait : wait;

    private static TimeSpan? AskedWait(Exception? exception) => exception switch
    {
        EmbeddingRateLimitedException e => e.RetryAfter,
        EmbeddingTransientException e => e.RetryAfter,
        _ => null,
    };

    private async ValueTask<ParsedResponse> AttemptAsync(AttemptState state, CancellationToken cancellationToken)
    {
        state.Attempts++;
        Log.RequestStarting(_logger, _options.ProviderName, state.Model, state.Destination.Length, state.Attempts);
        var info = new ProviderCallInfo(_options.ProviderName, state.Model, null, null);
        try
        {
            return await AttemptCoreAsync(state, cancellationToken).ConfigureAwait(false);
        }
        catch (EmbeddingProviderException ex)
        {
            state.LastError = ex;
            Log.RequestFailed(_logger, _options.ProviderName, ex.GetType().Name, (int?)ex.StatusCode, ex.RequestId, ex.Message);
            throw;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException or OperationCanceledException)
        {
            var what = ex is OperationCanceledException
                ? $"no complete response within the request timeout of {_options.RequestTimeout}"
                : $"network error: {ex.Message}";
            var error = ProviderErrors.Transient(info, what, ex, _options.ApiKey);
            state.LastError = error;
            Log.RequestFailed(_logger, _options.ProviderName, error.GetType().Name, null, null, error.Message);
            throw error;
        }
    }

    private async ValueTask<ParsedResponse> AttemptCoreAsync(AttemptState state, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, Endpoint);
        var content = new ReadOnlyMemoryContent(state.Body);
        content.Headers.ContentType = JsonMediaType;
        request.Content = content;
        if (_authorization is not null)
        {
            request.Headers.TryAddWithoutValidation(_options.ApiKeyHeaderName, _authorization);
        }

        request.Headers.TryAddWithoutValidation("User-Agent", _options.UserAgent);
        request.Headers.TryAddWithoutValidation("Accept", "application/json");

        using var timeout = new CancellationTokenSource(_options.RequestTimeout, _timeProvider);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, linked.Token).ConfigureAwait(false);

        var info = new ProviderCallInfo(_options.ProviderName, state.Model, response.StatusCode, ProviderErrors.GetRequestId(response));
        var (buffer, length) = await ReadBodyAsync(response.Content, info, linked.Token).ConfigureAwait(false);
        try
        {
            Log.ResponseReceived(_logger, _options.ProviderName, (int)response.StatusCode, length, info.RequestId);
            var bodySpan = buffer.AsSpan(0, length);
            if (response.IsSuccessStatusCode)
            {
                var destination = state.Destination.Span;
                destination.Clear();
                return EmbeddingResponseParser.Parse(bodySpan, destination, state.ExpectedDimensions, info);
            }

            var retryAfter = RetryAfterParser.Read(response.Headers, _timeProvider.GetUtcNow());
            throw ProviderErrors.FromStatus(info, bodySpan, retryAfter is { } wait ? Bound(wait) : null,
                state.BatchOffset, state.Destination.Length, _options.ApiKey);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private async ValueTask<(byte[] Buffer, int Length)> ReadBodyAsync(HttpContent content, ProviderCallInfo info, CancellationToken cancellationToken)
    {
        var max = _options.MaxResponseBytes;
        return await CappedBody.ReadAsync(content, max, cancellationToken).ConfigureAwait(false)
            ?? throw info.ResponseError(content.Headers.ContentLength is long declared && declared > max
                ? $"the body of {declared} bytes exceeds MaxResponseBytes ({max})"
                : $"the body exceeds MaxResponseBytes ({max})", retryable: false);
    }

    private sealed class AttemptState(EmbeddingTransport transport, ReadOnlyMemory<byte> body, Memory<float[]?> destination, int batchOffset, string model, int? expectedDimensions)
    {
        public EmbeddingTransport Transport { get; } = transport;

        public ReadOnlyMemory<byte> Body { get; } = body;

        public Memory<float[]?> Destination { get; } = destination;

        public int BatchOffset { get; } = batchOffset;

        public string Model { get; } = model;

        public int? ExpectedDimensions { get; } = expectedDimensions;

        public int Attempts { get; set; }

        public EmbeddingProviderException? LastError { get; set; }
    }
}
