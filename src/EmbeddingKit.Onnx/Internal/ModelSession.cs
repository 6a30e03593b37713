using System.Collections.Concurrent;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.Tokenizers;

namespace EmbeddingKit.Onnx.Internal;

/// <summary>
/// One loaded model: the ONNX Runtime session and the WordPiece tokenizer, created once per process for each distinct
/// (graph, vocabulary, casing, weights, threads) and shared by every embedder of it. <see cref="InferenceSession.Run(RunOptions,
/// IReadOnlyCollection{string}, IReadOnlyCollection{OrtValue}, IReadOnlyCollection{string})"/> is thread-safe; runs go
/// one at a time through <see cref="Gate"/>, since each already uses all its intra-op threads.
/// </summary>
internal sealed class ModelSession
{
    private static readonly ConcurrentDictionary<Key, Lazy<ModelSession>> Sessions = new();

    private ModelSession(InferenceSession session, BertTokenizer tokenizer, string[] inputNames, string outputName, int dimensions)
    {
        Session = session;
        Tokenizer = tokenizer;
        InputNames = inputNames;
        OutputNames = [outputName];
        Dimensions = dimensions;
    }

    public InferenceSession Session { get; }

    public BertTokenizer Tokenizer { get; }

    /// <summary>Gets the graph's inputs in the order the runner passes them: <c>input_ids</c>, <c>attention_mask</c>,
    /// then <c>token_type_ids</c> when the graph has it.</summary>
    public string[] InputNames { get; }

    public string[] OutputNames { get; }

    public int Dimensions { get; }

    public SemaphoreSlim Gate { get; } = new(1, 1);

    /// <summary>The shared session of <paramref name="model"/> with <paramref name="threads"/> intra-op threads, loaded on
    /// first use. A load that failed is not cached, so a fixed file is picked up by the next call.</summary>
    public static ModelSession Get(LocalModel model, int threads)
    {
        var key = new Key(model.Model, model.Vocabulary, model.LowerCase, model.Weights, threads);
        var lazy = Sessions.GetOrAdd(key, k => new Lazy<ModelSession>(() => Load(k), LazyThreadSafetyMode.ExecutionAndPublication));
        try
        {
            return lazy.Value;
        }
        catch
        {
            Sessions.TryRemove(new KeyValuePair<Key, Lazy<ModelSession>>(key, lazy));
            throw;
        }
    }

    private static ModelSession Load(Key key)
    {
        var tokenizer = LoadTokenizer(key.Vocabulary, key.LowerCase);
        var bytes = key.Model.ReadAllBytes();
        if (key.Weights == LocalModelWeights.Int8)
        {
            bytes = QuantizeWeights(key.Model, bytes);
        }

        var options = new SessionOptions
        {
            IntraOpNumThreads = key.Threads,
            InterOpNumThreads = 1,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
        };
        InferenceSession session;
        try
        {
            session = new InferenceSession(bytes, options);
        }
        catch (OnnxRuntimeException e)
        {
            throw new EmbeddingConfigurationException($"The local model file '{key.Model}' is not a loadable ONNX model: {FirstLine(e.Message)}", e);
        }
        finally
        {
            options.Dispose();
        }

        try
        {
            var inputs = session.InputMetadata;
            if (!inputs.ContainsKey("input_ids") || !inputs.ContainsKey("attention_mask"))
            {
                throw new EmbeddingConfigurationException($"The local model file '{key.Model}' has inputs {string.Join(", ", inputs.Keys)}; a BERT-family encoder needs input_ids and attention_mask.");
            }

            string[] inputNames = inputs.ContainsKey("token_type_ids") ? ["input_ids", "attention_mask", "token_type_ids"] : ["input_ids", "attention_mask"];
            var output = session.OutputMetadata.TryGetValue("last_hidden_state", out var hidden)
                ? new KeyValuePair<string, NodeMetadata>("last_hidden_state", hidden)
                : session.OutputMetadata.FirstOrDefault(o => o.Value.Dimensions.Length == 3);
            if (output.Key is null || output.Value.Dimensions[^1] < 1)
            {
                throw new EmbeddingConfigurationException($"The local model file '{key.Model}' has no token-vector output (last_hidden_state, rank 3, fixed last dimension).");
            }

            return new ModelSession(session, tokenizer, inputNames, output.Key, output.Value.Dimensions[^1]);
        }
        catch
        {
            session.Dispose();
            throw;
        }
    }

    private static byte[] QuantizeWeights(LocalModelFile file, byte[] bytes)
    {
        try
        {
            return Int8WeightQuantizer.Quantize(bytes, out _);
        }
        catch (Exception e) when (e is Google.Protobuf.InvalidProtocolBufferException or InvalidDataException)
        {
            throw new EmbeddingConfigurationException($"The local model file '{file}' is not a loadable ONNX model: {FirstLine(e.Message)}", e);
        }
    }

    internal static BertTokenizer LoadTokenizer(LocalModelFile vocabulary, bool lowerCase)
    {
        using var stream = vocabulary.Open();
        try
        {
            return BertTokenizer.Create(stream, new BertOptions { LowerCaseBeforeTokenization = lowerCase, RemoveNonSpacingMarks = lowerCase });
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or FormatException or IOException or KeyNotFoundException)
        {
            throw new EmbeddingConfigurationException($"The local model file '{vocabulary}' is not a WordPiece vocabulary: {FirstLine(e.Message)}", e);
        }
    }

    private static string FirstLine(string message) => message.Split('\n', 2)[0].Trim();

    private sealed record Key(LocalModelFile Model, LocalModelFile Vocabulary, bool LowerCase, LocalModelWeights Weights, int Threads);
}
