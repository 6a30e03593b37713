using EmbeddingKit.Embedders;
using EmbeddingKit.Vectors;
using Microsoft.Extensions.AI;

namespace EmbeddingKit.OpenAI.Internal;

/// <summary>
/// Multimodal embedder for Jina-style APIs: <c>input</c> is a list of <c>{"text": …}</c> and <c>{"image": "&lt;base64&gt;"}</c>
/// objects. An input of several parts (or video frames) is sent as several items whose vectors are averaged and
/// normalized into one.
/// </summary>
internal sealed class OpenAICompatibleMultimodalEmbeddingGenerator : IMultimodalEmbeddingGenerator
{
    private readonly EmbeddingTransport _transport;
    private readonly OpenAICompatibleEmbeddingOptions _options;
    private readonly EmbeddingGeneratorMetadata _metadata;

    public OpenAICompatibleMultimodalEmbeddingGenerator(EmbeddingTransport transport)
    {
        _transport = transport;
        _options = transport.Options;
        _metadata = new EmbeddingGeneratorMetadata(_options.ProviderName, _options.BaseUrl, _options.Model, _options.Dimensions);
    }

    public long MaxImageBytes => _options.MaxImageBytes;

    public async Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(
        IEnumerable<MultimodalInput> values, EmbeddingGenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(values);
        var model = options?.ModelId ?? _options.Model!;
        var dimensions = options?.Dimensions ?? _options.Dimensions;
        var extra = options?.AdditionalProperties;
        var inputs = values.ToArray();

        // Flatten: each text, image or frame is one request item; owner[i] is the input it belongs to.
        var items = new List<MultimodalItem>();
        var owner = new List<int>();
        for (var i = 0; i < inputs.Length; i++)
        {
            var input = inputs[i] ?? throw new ArgumentException($"Input {i} is null.", nameof(values));
            foreach (var part in input.Parts)
            {
                switch (part.Kind)
                {
                    case MultimodalContentKind.Text:
                        if (part.Text!.Contains('\0', StringComparison.Ordinal))
                        {
                            throw new ArgumentException($"Input {i} has a text part containing a NUL character.", nameof(values));
                        }

                        items.Add(new MultimodalItem(part.Text, default));
                        owner.Add(i);
                        break;
                    case MultimodalContentKind.Image:
                        CheckImageSize(part.Data.Length, i, "image");
                        items.Add(new MultimodalItem(null, part.Data));
                        owner.Add(i);
                        break;
                    case MultimodalContentKind.VideoFrames:
                        foreach (var frame in part.Frames)
                        {
                            CheckImageSize(frame.Length, i, "video frame");
                            items.Add(new MultimodalItem(null, frame));
                            owner.Add(i);
                        }

                        break;
                    default:
                        throw new ArgumentException($"Input {i} has a part of unknown kind {part.Kind}.", nameof(values));
                }
            }
        }

        var itemArray = items.ToArray();
        var vectors = new float[]?[itemArray.Length];
        var usage = new UsageTotals();
        var batch = _options.MaxInputsPerRequest;
        var tasks = new List<Task>();
        for (var offset = 0; offset < itemArray.Length; offset += batch)
        {
            tasks.Add(SendBatchAsync(itemArray, vectors, offset, Math.Min(batch, itemArray.Length - offset), model, dimensions, extra, usage, cancellationToken));
        }

        try
        {
            await Task.WhenAll(tasks).ConfigureAwait(false);
        }
        catch (EmbeddingBadInputException e) when (e.InputIndex is int item && item >= 0 && item < owner.Count)
        {
            // The provider names a request item (a text, an image, a frame); the caller's input is the one it belongs to.
            throw new EmbeddingBadInputException($"{e.Message} (request item {item} is part of input {owner[item]})", owner[item], e)
            {
                Provider = e.Provider,
                Model = e.Model,
                StatusCode = e.StatusCode,
                ProviderMessage = e.ProviderMessage,
                RequestId = e.RequestId,
            };
        }

        var result = new GeneratedEmbeddings<Embedding<float>>(inputs.Length);
        var createdAt = _transport.TimeProvider.GetUtcNow();
        var modelId = usage.Model ?? model;
        var next = 0;
        Dictionary<int, string>? unusable = null;
        for (var i = 0; i < inputs.Length; i++)
        {
            var first = vectors[next]!;
            var combined = first;
            var parts = 1;
            var bad = EmbeddingResponseParser.IsUnusable(first);
            while (next + parts < owner.Count && owner[next + parts] == i)
            {
                bad |= EmbeddingResponseParser.IsUnusable(vectors[next + parts]);
                if (parts == 1)
                {
                    combined = (float[])first.Clone();
                }

                if (!bad)
                {
                    System.Numerics.Tensors.TensorPrimitives.Add(combined, vectors[next + parts]!, combined);
                }

                parts++;
            }

            if (bad)
            {
                // Any item of the input came back unusable: the input fails, the other inputs keep their vectors.
                (unusable ??= [])[i] = EmbeddingResponseParser.UnusableProblem;
                combined = EmbeddingResponseParser.Unusable;
            }
            else if (parts > 1)
            {
                VectorMath.Normalize(combined);
            }

            next += parts;
            result.Add(new Embedding<float>(combined) { ModelId = modelId, CreatedAt = createdAt });
        }

        result.Usage = new UsageDetails { InputTokenCount = usage.PromptTokens, TotalTokenCount = usage.TotalTokens };
        return unusable is null ? result : throw OpenAICompatibleTextEmbeddingGenerator.PartialResult(_options, model, result, unusable);
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

    public void Dispose() => _transport.Dispose();

    private void CheckImageSize(int bytes, int position, string what)
    {
        if (bytes > _options.MaxImageBytes)
        {
            throw new EmbeddingBadInputException(
                $"Input {position} has a {what} of {bytes} bytes, over the limit of {_options.MaxImageBytes} bytes (MaxImageBytes).", position)
            {
                Provider = _options.ProviderName,
                Model = _options.Model,
            };
        }
    }

    private async Task SendBatchAsync(
        MultimodalItem[] items, float[]?[] vectors, int offset, int count, string model, int? dimensions, AdditionalPropertiesDictionary? extra, UsageTotals usage,
        CancellationToken cancellationToken)
    {
        long estimate = 256;
        for (var i = offset; i < offset + count; i++)
        {
            estimate += (items[i].Text?.Length ?? 0) + (items[i].Image.Length * 4L / 3) + 16;
        }

        using var body = new PooledByteBufferWriter((int)Math.Min(estimate, int.MaxValue / 2));
        EmbeddingRequestWriter.WriteMultimodal(body, _options, model, dimensions, extra, items.AsSpan(offset, count));
        var parsed = await _transport.SendAsync(body.WrittenMemory, vectors.AsMemory(offset, count), offset, model, dimensions, cancellationToken)
            .ConfigureAwait(false);
        usage.Add(parsed);
    }
}
