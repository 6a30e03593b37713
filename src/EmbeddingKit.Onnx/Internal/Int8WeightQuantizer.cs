using System.Buffers.Binary;
using System.Runtime.InteropServices;
using EmbeddingKit.Onnx.Internal.OnnxProto;
using Google.Protobuf;

namespace EmbeddingKit.Onnx.Internal;

/// <summary>
/// Rewrites an fp32 ONNX graph for dynamic int8 inference, in memory, at load time: every <c>MatMul</c> whose second
/// input is a 2-D float initializer [K, N] becomes a <c>com.microsoft.DynamicQuantizeMatMul</c> (ONNX Runtime contrib
/// op, version 1: inputs A float, B int8, b_scale float [N], b_zero_point int8 [N]; A is quantized per run, to uint8,
/// by the kernel). Weights are quantized symmetrically per column: scale = max|column| / 127, zero point 0, values
/// rounded half to even into [-127, 127]. Everything else in the graph is kept as it was.
/// </summary>
internal static class Int8WeightQuantizer
{
    /// <summary>The domain of ONNX Runtime's contrib operators.</summary>
    public const string MicrosoftDomain = "com.microsoft";

    /// <summary>The op that replaces each eligible <c>MatMul</c>.</summary>
    public const string QuantizedOp = "DynamicQuantizeMatMul";

    private const int FloatType = 1;
    private const int Int8Type = 3;
    private const int ExternalData = 1;

    // Ops whose attributes hold subgraphs, which may name this graph's initializers: with one present, replaced float
    // weights are left in place (ONNX Runtime drops unused initializers itself) rather than risk removing a used one.
    private static readonly HashSet<string> SubgraphOps = ["If", "Loop", "Scan", "SequenceMap"];

    /// <summary>The int8 graph of <paramref name="model"/> (a serialized ONNX ModelProto).</summary>
    /// <param name="model">The fp32 graph.</param>
    /// <param name="quantized">How many <c>MatMul</c> nodes were rewritten.</param>
    /// <exception cref="InvalidProtocolBufferException">The bytes are not a protobuf message.</exception>
    /// <exception cref="InvalidDataException">The message is not an ONNX model with a graph.</exception>
    public static byte[] Quantize(byte[] model, out int quantized)
    {
        var proto = ModelProto.Parser.ParseFrom(model);
        quantized = Quantize(proto);
        return proto.ToByteArray();
    }

    /// <summary>Rewrites <paramref name="model"/> in place; returns how many <c>MatMul</c> nodes were rewritten.</summary>
    /// <param name="model">The model.</param>
    /// <param name="foldBias">Whether an <c>Add</c> of a constant [N] vector that alone consumes a rewritten node's
    /// output becomes that node's bias input.</param>
    public static int Quantize(ModelProto model, bool foldBias = true)
    {
        var graph = model.Graph ?? throw new InvalidDataException("The ONNX model has no graph.");
        var initializers = new Dictionary<string, TensorProto>(StringComparer.Ordinal);
        foreach (var tensor in graph.Initializer)
        {
            initializers.TryAdd(tensor.Name, tensor);
        }

        // An initializer that is also a graph input is only a default: the caller may feed another value.
        var graphInputs = graph.Input.Select(i => i.Name).ToHashSet(StringComparer.Ordinal);
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var node in graph.Node)
        {
            names.UnionWith(node.Input);
            names.UnionWith(node.Output);
        }

        names.UnionWith(initializers.Keys);
        names.UnionWith(graphInputs);
        var replaced = new Dictionary<string, string[]>(StringComparer.Ordinal);
        var count = 0;
        foreach (var node in graph.Node)
        {
            if (!IsEligible(node, initializers, graphInputs, out var weight))
            {
                continue;
            }

            if (!replaced.TryGetValue(weight.Name, out var inputs))
            {
                var (values, scales) = QuantizeColumns(weight);
                var k = weight.Dims[0];
                var n = weight.Dims[1];
                var valuesName = UniqueName(names, weight.Name + "_int8");
                var scaleName = UniqueName(names, weight.Name + "_scale");
                var zeroName = UniqueName(names, weight.Name + "_zero_point");
                Add(graph, initializers, Tensor(valuesName, Int8Type, [k, n], ByteString.CopyFrom(MemoryMarshal.AsBytes(values.AsSpan()))));
                Add(graph, initializers, Tensor(scaleName, FloatType, [n], FloatBytes(scales)));
                Add(graph, initializers, Tensor(zeroName, Int8Type, [n], ByteString.CopyFrom(new byte[n])));
                inputs = [valuesName, scaleName, zeroName];
                replaced.Add(weight.Name, inputs);
            }

            var a = node.Input[0];
            node.Input.Clear();
            node.Input.Add(a);
            node.Input.AddRange(inputs);
            node.OpType = QuantizedOp;
            node.Domain = MicrosoftDomain;
            count++;
        }

        if (count == 0)
        {
            return 0;
        }

        if (foldBias)
        {
            FoldBiases(graph, initializers, graphInputs);
        }

        if (!graph.Node.Any(n => SubgraphOps.Contains(n.OpType)))
        {
            var used = graph.Node.SelectMany(n => n.Input).Concat(graph.Output.Select(o => o.Name)).ToHashSet(StringComparer.Ordinal);
            for (var i = graph.Initializer.Count - 1; i >= 0; i--)
            {
                var name = graph.Initializer[i].Name;
                if (replaced.ContainsKey(name) && !used.Contains(name))
                {
                    graph.Initializer.RemoveAt(i);
                }
            }
        }

        if (!model.OpsetImport.Any(o => o.Domain == MicrosoftDomain))
        {
            model.OpsetImport.Add(new OperatorSetIdProto { Domain = MicrosoftDomain, Version = 1 });
        }

        return count;
    }

    /// <summary>Moves into each <c>DynamicQuantizeMatMul</c> the <c>Add</c> of a constant [N] float vector that is the
    /// only consumer of its output (not itself a graph output): the kernel adds the bias in its output stage.</summary>
    private static void FoldBiases(GraphProto graph, Dictionary<string, TensorProto> initializers, HashSet<string> graphInputs)
    {
        var consumers = new Dictionary<string, List<NodeProto>>(StringComparer.Ordinal);
        foreach (var node in graph.Node)
        {
            foreach (var input in node.Input)
            {
                if (!consumers.TryGetValue(input, out var list))
                {
                    consumers[input] = list = [];
                }

                list.Add(node);
            }
        }

        var graphOutputs = graph.Output.Select(o => o.Name).ToHashSet(StringComparer.Ordinal);
        var folded = new HashSet<NodeProto>(ReferenceEqualityComparer.Instance);
        foreach (var node in graph.Node)
        {
            if (node.OpType != QuantizedOp || node.Domain != MicrosoftDomain || node.Input.Count != 4 || node.Output.Count != 1)
            {
                continue;
            }

            var output = node.Output[0];
            if (graphOutputs.Contains(output) || !consumers.TryGetValue(output, out var list) || list.Count != 1)
            {
                continue;
            }

            var add = list[0];
            if (add.OpType != "Add" || add.Domain is not ("" or "ai.onnx") || add.Input.Count != 2 || add.Output.Count != 1 || add.Input[0] == add.Input[1])
            {
                continue;
            }

            var bias = add.Input[0] == output ? add.Input[1] : add.Input[0];
            var columns = initializers[node.Input[1]].Dims[1];
            if (graphInputs.Contains(bias)
                || !initializers.TryGetValue(bias, out var tensor)
                || tensor.DataType != FloatType
                || tensor.DataLocation == ExternalData
                || tensor.Dims.Count != 1
                || tensor.Dims[0] != columns
                || ElementCount(tensor) != columns)
            {
                continue;
            }

            node.Input.Add(bias);
            node.Output[0] = add.Output[0];
            folded.Add(add);
        }

        for (var i = graph.Node.Count - 1; i >= 0; i--)
        {
            if (folded.Contains(graph.Node[i]))
            {
                graph.Node.RemoveAt(i);
            }
        }
    }

    /// <summary>Whether <paramref name="node"/> is a <c>MatMul</c> of anything by a 2-D float initializer held in the
    /// model (not external data, not a graph input).</summary>
    internal static bool IsEligible(NodeProto node, IReadOnlyDictionary<string, TensorProto> initializers, IReadOnlySet<string> graphInputs, out TensorProto weight)
    {
        weight = null!;
        return node.OpType == "MatMul"
            && node.Domain is "" or "ai.onnx"
            && node.Input.Count == 2
            && node.Input[0].Length > 0
            && !graphInputs.Contains(node.Input[1])
            && initializers.TryGetValue(node.Input[1], out weight!)
            && weight.DataType == FloatType
            && weight.DataLocation != ExternalData
            && weight.Dims.Count == 2
            && weight.Dims[0] > 0
            && weight.Dims[1] > 0
            && ElementCount(weight) == weight.Dims[0] * weight.Dims[1];
    }

    /// <summary>The weights as int8, row-major like the input, and one scale per column.</summary>
    internal static (sbyte[] Values, float[] Scales) QuantizeColumns(TensorProto weight)
    {
        var rows = checked((int)weight.Dims[0]);
        var columns = checked((int)weight.Dims[1]);
        var floats = ReadFloats(weight);
        var scales = new float[columns];
        for (var r = 0; r < rows; r++)
        {
            var row = floats.AsSpan(r * columns, columns);
            for (var c = 0; c < columns; c++)
            {
                scales[c] = MathF.Max(scales[c], MathF.Abs(row[c]));
            }
        }

        for (var c = 0; c < columns; c++)
        {
            // An all-zero column quantizes to zeros under any scale; 1 keeps the division finite.
            scales[c] = scales[c] > 0 ? scales[c] / 127f : 1f;
        }

        var values = new sbyte[floats.Length];
        for (var r = 0; r < rows; r++)
        {
            for (var c = 0; c < columns; c++)
            {
                var q = MathF.Round(floats[(r * columns) + c] / scales[c], MidpointRounding.ToEven);
                values[(r * columns) + c] = (sbyte)Math.Clamp(q, -127f, 127f);
            }
        }

        return (values, scales);
    }

    private static long ElementCount(TensorProto tensor) =>
        tensor.RawData.Length > 0 ? tensor.RawData.Length / sizeof(float) : tensor.FloatData.Count;

    private static float[] ReadFloats(TensorProto tensor)
    {
        if (tensor.RawData.Length == 0)
        {
            return [.. tensor.FloatData];
        }

        // raw_data is little-endian whatever the machine.
        var bytes = tensor.RawData.Span;
        var floats = new float[bytes.Length / sizeof(float)];
        for (var i = 0; i < floats.Length; i++)
        {
            floats[i] = BinaryPrimitives.ReadSingleLittleEndian(bytes.Slice(i * sizeof(float), sizeof(float)));
        }

        return floats;
    }

    private static ByteString FloatBytes(float[] values)
    {
        var bytes = new byte[values.Length * sizeof(float)];
        for (var i = 0; i < values.Length; i++)
        {
            BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * sizeof(float)), values[i]);
        }

        return ByteString.CopyFrom(bytes);
    }

    private static void Add(GraphProto graph, Dictionary<string, TensorProto> initializers, TensorProto tensor)
    {
        graph.Initializer.Add(tensor);
        initializers.Add(tensor.Name, tensor);
    }

    private static TensorProto Tensor(string name, int dataType, long[] dims, ByteString raw)
    {
        var tensor = new TensorProto { Name = name, DataType = dataType, RawData = raw };
        tensor.Dims.AddRange(dims);
        return tensor;
    }

    private static string UniqueName(HashSet<string> names, string wanted)
    {
        var name = wanted;
        for (var i = 1; !names.Add(name); i++)
        {
            name = $"{wanted}_{i}";
        }

        return name;
    }
}
