using System.Runtime.ExceptionServices;
using EmbeddingKit.Embedders;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging;

namespace EmbeddingKit.OpenAI.Internal;

/// <summary>
/// The OpenAI-compatible text embedder, created through <see cref="OpenAICompatibleEmbeddingGenerator.Create"/>. It checks
/// the inputs, plans them into requests (inputs and tokens per request) and sends each request through EmbeddingKit's
/// resilience middleware (retry honouring Retry-After, then the concurrency limit) around a single-attempt HTTP sender,
/// under the total timeout of a request.
/// </summary>
internal sealed class OpenAICompatibleTextEmbeddingGenerator : IEmbeddingGenerator<string, Embedding<float>>, IEmbeddingRequestPlanner
{
    private readonly EmbeddingTransport _transport;
    private readonly OpenAICompatibleEmbeddingOptions _options;
    private readonly EmbeddingGeneratorMetadata _metadata;
    private readonly TokenLimiter? _defaultLimiter;
    private readonly IEmbeddingGenerator<string, Embedding<float>> _requests;

    public OpenAICompatibleTextEmbeddingGenerator(EmbeddingTransport transport)
    {
        _transport = transport;
        _options = transport.Options;
        _metadata = new EmbeddingGeneratorMetadata(_options.ProviderName, _options.BaseUrl, _options.Model, _options.Dimensions);
        _defaultLimiter = TokenLimiter.Create(_options.Model!, _options.MaxTokensPerInput, _options.OverlongInputPolicy);
        _requests = new SingleRequestEmbeddingGenerator(transport).AsBuilder()
            .UseRetry(
                o =>
                {
                    o.MaxAttempts = _options.MaxAttempts;
                    o.BaseDelay = _options.BaseDelay;
                    o.MaxDelay = _options.MaxDelay == Timeout.InfiniteTimeSpan ? TimeSpan.FromDays(1) : _options.MaxDelay;
                    o.MaxRetryAfter = _options.MaxRetryAfter;
                    o.OnRetry = transport.LogRetry;
                },
                transport.TimeProvider)
            .UseConcurrencyLimit(o => o.MaxConcurrentCalls = _options.MaxConcurrentRequests)
            .Build();
    }

    public async Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(
        IEnumerable<string> values, EmbeddingGenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(values);
        var model = options?.ModelId ?? _options.Model!;
        var dimensions = options?.Dimensions ?? _options.Dimensions;
        var extra = options?.AdditionalProperties;
        if (dimensions is <= 0)
        {
            throw new ArgumentException("Dimensions must be positive.", nameof(options));
        }

        var limiter = string.Equals(model, _options.Model, StringComparison.Ordinal)
            ? _defaultLimiter
            : TokenLimiter.Create(model, _options.MaxTokensPerInput, _options.OverlongInputPolicy);
        var inputs = Prepare(values, limiter);
        var vectors = new Embedding<float>?[inputs.Length];
        var usage = new UsageTotals();

        var requests = TokenLimiter.PlanRequests(inputs, _options.MaxInputsPerRequest, TokenLimiter.RequestBudget(model, _options.MaxTokensPerRequest), model);
        if (requests.Count <= 1)
        {
            if (inputs.Length > 0)
            {
                await SendBatchAsync(inputs, vectors, 0, inputs.Length, model, dimensions, extra, usage, cancellationToken).ConfigureAwait(false);
            }
        }
        else
        {
            // A failed batch cancels its siblings at once; the caller sees that first real failure.
            using var failed = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            var tasks = new List<Task>(requests.Count);
            foreach (var (offset, count) in requests)
            {
                tasks.Add(RunBatchAsync(inputs, vectors, offset, count, model, dimensions, extra, usage, failed));
            }

            try
            {
                await Task.WhenAll(tasks).ConfigureAwait(false);
            }
            catch (Exception) when (!cancellationToken.IsCancellationRequested)
            {
                var first = tasks.Where(t => t.IsFaulted).Select(t => t.Exception!.InnerException!).FirstOrDefault(e => e is not OperationCanceledException);
                if (first is not null)
                {
                    System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(first);
                }

                throw;
            }
        }

        var createdAt = _transport.TimeProvider.GetUtcNow();
        var result = new GeneratedEmbeddings<Embedding<float>>(inputs.Length);
        var modelId = usage.Model ?? model;
        Dictionary<int, string>? unusable = null;
        for (var i = 0; i < vectors.Length; i++)
        {
            // The single-request sender's embeddings are handed on as they are, stamped with the call's model and time.
            var embedding = vectors[i]!;
            if (System.Runtime.InteropServices.MemoryMarshal.TryGetArray(embedding.Vector, out var segment) && EmbeddingResponseParser.IsUnusable(segment.Array))
            {
                (unusable ??= [])[i] = EmbeddingResponseParser.UnusableProblem;
            }

            embedding.ModelId = modelId;
            embedding.CreatedAt = createdAt;
            result.Add(embedding);
        }

        result.Usage = new UsageDetails { InputTokenCount = usage.PromptTokens, TotalTokenCount = usage.TotalTokens };
        return unusable is null ? result : throw PartialResult(_options, model, result, unusable);
    }

    /// <summary>The requests <see cref="GenerateAsync"/> sends: at most <see cref="OpenAICompatibleEmbeddingOptions.MaxInputsPerRequest"/>
    /// inputs and the model's request token budget each. Counted on the texts before truncation, which only shortens
    /// them, so a planned range never splits again inside <see cref="GenerateAsync"/>.</summary>
    public IReadOnlyList<Range> PlanRequests(IReadOnlyList<string> inputs, EmbeddingGenerationOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        var model = options?.ModelId ?? _options.Model!;
        var texts = new string[inputs.Count];
        for (var i = 0; i < texts.Length; i++)
        {
            texts[i] = inputs[i] ?? string.Empty;
        }

        var plan = TokenLimiter.PlanRequests(texts, _options.MaxInputsPerRequest, TokenLimiter.RequestBudget(model, _options.MaxTokensPerRequest), model);
        return plan.ConvertAll(p => new Range(p.Offset, p.Offset + p.Count));
    }

    public object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        if (serviceKey is not null)
        {
            return null;
        }

        if (serviceType == typeof(EmbeddingGeneratorMetadata))
        {
            return _metadata;
        }

        return serviceType.IsInstanceOfType(this) ? this : null;
    }

    public void Dispose()
    {
        _requests.Dispose();
        _transport.Dispose();
    }

    private string[] Prepare(IEnumerable<string> values, TokenLimiter? limiter)
    {
        var inputs = values.ToArray();
        for (var i = 0; i < inputs.Length; i++)
        {
            var text = inputs[i];
            if (string.IsNullOrWhiteSpace(text))
            {
                throw new ArgumentException($"Input {i} is null, empty or whitespace only.", nameof(values));
            }

            if (text.Contains('\0', StringComparison.Ordinal))
            {
                throw new ArgumentException($"Input {i} contains a NUL character.", nameof(values));
            }

            if (limiter is not null)
            {
                inputs[i] = limiter.Apply(text, i, out var originalTokens);
                if (originalTokens is int tokens)
                {
                    Log.InputTruncated(_transport.Logger, i, tokens, limiter.Limit);
                }
            }
        }

        return inputs;
    }

    private async Task RunBatchAsync(
        string[] inputs, Embedding<float>?[] vectors, int offset, int count, string model, int? dimensions, AdditionalPropertiesDictionary? extra, UsageTotals usage,
        CancellationTokenSource failed)
    {
        try
        {
            await SendBatchAsync(inputs, vectors, offset, count, model, dimensions, extra, usage, failed.Token, failed).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            await failed.CancelAsync().ConfigureAwait(false);
            throw;
        }
    }

    private async Task SendBatchAsync(
        string[] inputs, Embedding<float>?[] vectors, int offset, int count, string model, int? dimensions, AdditionalPropertiesDictionary? extra, UsageTotals usage,
        CancellationToken cancellationToken, CancellationTokenSource? siblings = null)
    {
        var request = new SingleRequestEmbeddingGenerator.RequestOptions(new ArraySegment<string>(inputs, offset, count), model, dimensions, extra, usage)
        {
            Siblings = siblings,
        };
        var total = _options.TotalTimeout == Timeout.InfiniteTimeSpan ? null : new CancellationTokenSource(_options.TotalTimeout, _transport.TimeProvider);
        using var linked = total is null ? null : CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, total.Token);
        try
        {
            var embeddings = await _requests.GenerateAsync(request.Inputs, request, linked?.Token ?? cancellationToken).ConfigureAwait(false);
            for (var i = 0; i < count; i++)
            {
                vectors[offset + i] = embeddings[i];
            }
        }
        catch (OperationCanceledException ex) when (total is { IsCancellationRequested: true } && !cancellationToken.IsCancellationRequested)
        {
            if (request.LastError is { } last)
            {
                ExceptionDispatchInfo.Throw(last);
            }

            var info = new ProviderCallInfo(_options.ProviderName, model, null, null);
            throw ProviderErrors.Transient(info, $"no usable response within the total timeout of {_options.TotalTimeout}", ex, _options.ApiKey);
        }
        finally
        {
            total?.Dispose();
        }
    }

    /// <summary>The usable vectors of a response with unusable ones, and the unusable inputs by index.</summary>
    internal static EmbeddingPartialResultException PartialResult(
        OpenAICompatibleEmbeddingOptions options, string model, IReadOnlyList<Embedding<float>> embeddings, Dictionary<int, string> unusable)
    {
        var kept = embeddings.Select((e, i) => unusable.ContainsKey(i) ? null : e).ToArray();
        var indexes = string.Join(", ", unusable.Keys.Order().Take(10));
        return new EmbeddingPartialResultException(
            $"Embedding provider '{options.ProviderName}', model '{model}': unusable response for {unusable.Count} of {embeddings.Count} inputs (index {indexes}): {EmbeddingResponseParser.UnusableProblem}; the other vectors are usable.",
            kept, unusable)
        {
            Provider = options.ProviderName,
            Model = model,
        };
    }
}
