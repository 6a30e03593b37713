using System.Buffers;
using System.Diagnostics;
using System.Numerics.Tensors;
using EmbeddingKit.Diagnostics;
using Microsoft.Extensions.AI;
using Microsoft.ML.OnnxRuntime;

namespace EmbeddingKit.Onnx.Internal;

/// <summary>
/// The embedder of a <see cref="LocalModel"/>: WordPiece-encodes each input (cut at <see cref="LocalModel.MaxTokens"/>
/// and counted), sorts the inputs by token count, runs them through the shared session in batches padded to each
/// batch's longest input, pools (mean or CLS) and L2-normalizes. Thread-safe.
/// </summary>
internal sealed class OnnxEmbeddingGenerator : IEmbeddingGenerator<string, Embedding<float>>
{
    private readonly LocalModel _model;
    private readonly ModelSession _session;
    private readonly int _batchSize;
    private readonly EmbeddingGeneratorMetadata _metadata;
    private readonly KeyValuePair<string, object?> _modelTag;

    public OnnxEmbeddingGenerator(LocalModel model, ModelSession session, LocalEmbeddingOptions options)
    {
        _model = model;
        _session = session;
        _batchSize = options.BatchSize;
        _metadata = new EmbeddingGeneratorMetadata("embeddingkit-onnx", null, model.Name, session.Dimensions);
        _modelTag = new("model", model.Name);
    }

    public int Dimensions => _session.Dimensions;

    public async Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(
        IEnumerable<string> values,
        EmbeddingGenerationOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(values);
        if (options?.Dimensions is int asked && asked != Dimensions)
        {
            throw new EmbeddingConfigurationException($"The local model {_model.Name} produces {Dimensions} dimensions, not {asked}.");
        }

        var texts = values as IReadOnlyList<string> ?? [.. values];
        for (var i = 0; i < texts.Count; i++)
        {
            if (string.IsNullOrWhiteSpace(texts[i]))
            {
                throw new EmbeddingBadInputException($"Input {i} is null, empty or whitespace only; the local model {_model.Name} embeds text.", i);
            }
        }

        // Encoding and inference are CPU work: off the caller's thread, so a UI or a progress display stays live.
        return await Task.Run(() => Generate(texts, cancellationToken), cancellationToken).ConfigureAwait(false);
    }

    public object? GetService(Type serviceType, object? serviceKey = null) =>
        serviceKey is not null ? null
        : serviceType == typeof(EmbeddingGeneratorMetadata) ? _metadata
        : serviceType.IsInstanceOfType(this) ? this
        : serviceType == typeof(LocalModel) ? _model
        : null;

    public void Dispose()
    {
        // The session is shared by every embedder of the model in the process and lives as long as the process.
    }

    private GeneratedEmbeddings<Embedding<float>> Generate(IReadOnlyList<string> texts, CancellationToken cancellationToken)
    {
        var encoded = new int[texts.Count][];
        var truncated = 0;
        long tokens = 0;
        for (var i = 0; i < texts.Count; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            encoded[i] = Encode(texts[i], out var cut);
            truncated += cut ? 1 : 0;
            tokens += encoded[i].Length;
        }

        var order = new int[texts.Count];
        for (var i = 0; i < order.Length; i++)
        {
            order[i] = i;
        }

        Array.Sort(order, (a, b) => encoded[a].Length != encoded[b].Length ? encoded[a].Length.CompareTo(encoded[b].Length) : a.CompareTo(b));
        var vectors = new float[texts.Count][];
        using var activity = EmbeddingKitDiagnostics.ActivitySource.StartActivity("local.embed");
        activity?.SetTag("model", _model.Name);
        activity?.SetTag("inputs", texts.Count);
        for (var start = 0; start < order.Length; start += _batchSize)
        {
            cancellationToken.ThrowIfCancellationRequested();
            RunBatch(encoded, order.AsSpan(start, Math.Min(_batchSize, order.Length - start)), vectors, cancellationToken);
        }

        LocalModelDiagnostics.Tokens.Add(tokens, _modelTag);
        if (truncated > 0)
        {
            LocalModelDiagnostics.TruncatedInputs.Add(truncated, _modelTag);
        }

        var result = new GeneratedEmbeddings<Embedding<float>>(vectors.Length)
        {
            Usage = new UsageDetails { InputTokenCount = tokens, TotalTokenCount = tokens },
            AdditionalProperties = new() { [LocalModel.TruncatedInputsProperty] = truncated },
        };
        foreach (var vector in vectors)
        {
            result.Add(new Embedding<float>(vector) { ModelId = _model.Name });
        }

        return result;
    }

    /// <summary>[CLS] + WordPiece ids + [SEP], cut to <see cref="LocalModel.MaxTokens"/> at a word boundary.</summary>
    private int[] Encode(string text, out bool truncated)
    {
        var tokenizer = _session.Tokenizer;
        var room = _model.MaxTokens - 2;
        var ids = tokenizer.EncodeToIds(text, room, addSpecialTokens: false, out var normalized, out var consumed);
        var seen = normalized ?? text;
        truncated = consumed < seen.Length && !seen.AsSpan(consumed).IsWhiteSpace();
        var result = new int[ids.Count + 2];
        result[0] = tokenizer.ClassificationTokenId;
        for (var i = 0; i < ids.Count; i++)
        {
            result[i + 1] = ids[i];
        }

        result[^1] = tokenizer.SeparatorTokenId;
        return result;
    }

    private void RunBatch(int[][] encoded, ReadOnlySpan<int> batch, float[][] vectors, CancellationToken cancellationToken)
    {
        var length = 0;
        foreach (var i in batch)
        {
            length = Math.Max(length, encoded[i].Length);
        }

        var cells = batch.Length * length;
        var ids = ArrayPool<long>.Shared.Rent(cells);
        var mask = ArrayPool<long>.Shared.Rent(cells);
        var types = ArrayPool<long>.Shared.Rent(cells);
        try
        {
            Array.Clear(ids, 0, cells);
            Array.Clear(mask, 0, cells);
            Array.Clear(types, 0, cells);
            for (var row = 0; row < batch.Length; row++)
            {
                var tokens = encoded[batch[row]];
                var offset = row * length;
                for (var t = 0; t < tokens.Length; t++)
                {
                    ids[offset + t] = tokens[t];
                    mask[offset + t] = 1;
                }
            }

            long[] shape = [batch.Length, length];
            var memory = OrtMemoryInfo.DefaultInstance;
            using var idsValue = OrtValue.CreateTensorValueFromMemory(memory, ids.AsMemory(0, cells), shape);
            using var maskValue = OrtValue.CreateTensorValueFromMemory(memory, mask.AsMemory(0, cells), shape);
            using var typesValue = OrtValue.CreateTensorValueFromMemory(memory, types.AsMemory(0, cells), shape);
            OrtValue[] inputs = _session.InputNames.Length == 3 ? [idsValue, maskValue, typesValue] : [idsValue, maskValue];
            using var runOptions = new RunOptions();
            using var terminate = cancellationToken.Register(static o => ((RunOptions)o!).Terminate = true, runOptions);
            _session.Gate.Wait(cancellationToken);
            IDisposableReadOnlyCollection<OrtValue> outputs;
            var started = Stopwatch.GetTimestamp();
            try
            {
                outputs = _session.Session.Run(runOptions, _session.InputNames, inputs, _session.OutputNames);
            }
            catch (OnnxRuntimeException) when (cancellationToken.IsCancellationRequested)
            {
                throw new OperationCanceledException(cancellationToken);
            }
            finally
            {
                _session.Gate.Release();
            }

            LocalModelDiagnostics.RunDuration.Record(Stopwatch.GetElapsedTime(started).TotalSeconds, _modelTag);
            using (outputs)
            {
                Pool(outputs[0].GetTensorDataAsSpan<float>(), encoded, batch, length, vectors);
            }
        }
        finally
        {
            ArrayPool<long>.Shared.Return(ids);
            ArrayPool<long>.Shared.Return(mask);
            ArrayPool<long>.Shared.Return(types);
        }
    }

    private void Pool(ReadOnlySpan<float> hidden, int[][] encoded, ReadOnlySpan<int> batch, int length, float[][] vectors)
    {
        var dimensions = Dimensions;
        for (var row = 0; row < batch.Length; row++)
        {
            var vector = new float[dimensions];
            var rowStart = row * length * dimensions;
            if (_model.Pooling == LocalModelPooling.Cls)
            {
                hidden.Slice(rowStart, dimensions).CopyTo(vector);
            }
            else
            {
                var count = encoded[batch[row]].Length;
                for (var t = 0; t < count; t++)
                {
                    TensorPrimitives.Add(vector, hidden.Slice(rowStart + (t * dimensions), dimensions), vector);
                }

                TensorPrimitives.Multiply(vector, 1f / count, vector);
            }

            var norm = TensorPrimitives.Norm(vector);
            TensorPrimitives.Multiply(vector, 1f / MathF.Max(norm, 1e-12f), vector);
            vectors[batch[row]] = vector;
        }
    }
}
