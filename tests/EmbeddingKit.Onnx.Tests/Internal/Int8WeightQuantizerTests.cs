using System.Buffers.Binary;
using EmbeddingKit.Onnx.Internal;
using EmbeddingKit.Onnx.Internal.OnnxProto;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;

namespace EmbeddingKit.Onnx.Tests.Internal;

public sealed class Int8WeightQuantizerTests
{
    public static TheoryData<string> Presets => [LocalModels.AllMiniLmL6V2Name, LocalModels.ArcticEmbedXsName];

    [Theory]
    [MemberData(nameof(Presets))]
    public void Quantize_Preset_RewritesEveryMatMulByAWeightAndKeepsTheGraphsInputsAndOutputs(string preset)
    {
        var bytes = LocalModels.Find(preset)!.Model.ReadAllBytes();
        var original = ModelProto.Parser.ParseFrom(bytes);
        var eligible = original.Graph.Node.Count(n => n.OpType == "MatMul" && IsFloatMatrix(original.Graph, n.Input[1]));

        var quantized = ModelProto.Parser.ParseFrom(Int8WeightQuantizer.Quantize(bytes, out var count));

        // 6 layers x (query, key, value, attention output, intermediate, output); the two attention products per layer
        // multiply activations and stay float.
        Assert.Equal(36, eligible);
        Assert.Equal(eligible, count);
        Assert.Equal(eligible, quantized.Graph.Node.Count(n => n.OpType == Int8WeightQuantizer.QuantizedOp && n.Domain == Int8WeightQuantizer.MicrosoftDomain));
        Assert.DoesNotContain(quantized.Graph.Node, n => n.OpType == "MatMul" && IsFloatMatrix(quantized.Graph, n.Input[1]));
        Assert.Equal(original.Graph.Node.Count(n => n.OpType == "MatMul") - eligible, quantized.Graph.Node.Count(n => n.OpType == "MatMul"));
        Assert.Equal(original.Graph.Input, quantized.Graph.Input);
        Assert.Equal(original.Graph.Output, quantized.Graph.Output);
        Assert.Contains(quantized.OpsetImport, o => o.Domain == Int8WeightQuantizer.MicrosoftDomain && o.Version == 1);
        Assert.DoesNotContain(quantized.Graph.Initializer, t => t.DataType == 1 && t.Dims.Count == 2 && !IsUsed(quantized.Graph, t.Name));
    }

    [Theory]
    [MemberData(nameof(Presets))]
    public void Quantize_Preset_GivesAGraphOnnxRuntimeLoadsWithTheSameInputsAndOutputs(string preset)
    {
        var bytes = LocalModels.Find(preset)!.Model.ReadAllBytes();
        using var original = new InferenceSession(bytes);

        using var quantized = new InferenceSession(Int8WeightQuantizer.Quantize(bytes, out _));

        Assert.Equal(original.InputNames, quantized.InputNames);
        Assert.Equal(original.OutputNames, quantized.OutputNames);
        Assert.Equal(original.OutputMetadata.Values.Select(m => m.Dimensions.Length), quantized.OutputMetadata.Values.Select(m => m.Dimensions.Length));
    }

    [Fact]
    public void Quantize_SmallGraph_QuantizesEachColumnToItsOwnSymmetricScale()
    {
        // [K=2, N=3]: column 1 is all zeros, column 2 has its largest magnitude negative.
        var model = Model(Node("MatMul", "x", "w", "y"));
        model.Graph.Initializer.Add(FloatTensor("w", [2, 3], [0.5f, 0f, -2f, -0.3f, 0f, 1.5f]));

        Assert.Equal(1, Int8WeightQuantizer.Quantize(model, foldBias: false));

        var node = Assert.Single(model.Graph.Node);
        Assert.Equal(["x", "w_int8", "w_scale", "w_zero_point"], node.Input);
        Assert.Equal(["y"], node.Output);
        var values = Initializer(model, "w_int8");
        Assert.Equal(3, values.DataType);
        Assert.Equal([2L, 3L], values.Dims);
        Assert.Equal([127, 0, -127, -76, 0, 95], values.RawData.Select(b => (int)(sbyte)b));
        Assert.Equal([0.5f / 127, 1f, 2f / 127], Floats(Initializer(model, "w_scale")));
        Assert.Equal(new byte[3], Initializer(model, "w_zero_point").RawData.ToByteArray());
        Assert.DoesNotContain(model.Graph.Initializer, t => t.Name == "w");
    }

    [Fact]
    public void Quantize_OnlyConsumerIsAnAddOfAVector_FoldsItAsTheBias()
    {
        var model = Model(Node("MatMul", "x", "w", "xw"), Node("Add", "b", "xw", "y"), Node("Relu", "y", null, "z"));
        model.Graph.Initializer.Add(FloatTensor("w", [2, 2], [1f, 2f, 3f, 4f]));
        model.Graph.Initializer.Add(FloatTensor("b", [2], [0.5f, -0.5f]));

        Int8WeightQuantizer.Quantize(model);

        Assert.Equal(2, model.Graph.Node.Count);
        Assert.Equal(["x", "w_int8", "w_scale", "w_zero_point", "b"], model.Graph.Node[0].Input);
        Assert.Equal(["y"], model.Graph.Node[0].Output);
        Assert.Equal("Relu", model.Graph.Node[1].OpType);
    }

    [Fact]
    public void Quantize_AddOfAMatrixOrASharedOutput_IsNotFolded()
    {
        var model = Model(
            Node("MatMul", "x", "w", "xw"), Node("Add", "xw", "m", "y"),
            Node("MatMul", "x", "v", "xv"), Node("Add", "xv", "b", "y2"), Node("Relu", "xv", null, "z"));
        model.Graph.Initializer.Add(FloatTensor("w", [2, 2], [1f, 2f, 3f, 4f]));
        model.Graph.Initializer.Add(FloatTensor("v", [2, 2], [1f, 2f, 3f, 4f]));
        model.Graph.Initializer.Add(FloatTensor("m", [2, 2], [1f, 1f, 1f, 1f]));
        model.Graph.Initializer.Add(FloatTensor("b", [2], [1f, 1f]));

        Int8WeightQuantizer.Quantize(model);

        Assert.Equal(5, model.Graph.Node.Count);
        Assert.All(model.Graph.Node.Where(n => n.OpType == Int8WeightQuantizer.QuantizedOp), n => Assert.Equal(4, n.Input.Count));
    }

    [Fact]
    public void Quantize_WeightUsedTwice_IsQuantizedOnce()
    {
        var model = Model(Node("MatMul", "x", "w", "y1"), Node("MatMul", "y1", "w", "y2"));
        model.Graph.Initializer.Add(FloatTensor("w", [2, 2], [1f, 2f, 3f, 4f]));

        Assert.Equal(2, Int8WeightQuantizer.Quantize(model));

        Assert.Equal(model.Graph.Node[0].Input.Skip(1), model.Graph.Node[1].Input.Skip(1));
        Assert.Equal(3, model.Graph.Initializer.Count);
    }

    [Fact]
    public void Quantize_MatMulsOfAGraphInputAThreeDimensionalOrAnIntegerWeight_AreLeftAlone()
    {
        var model = Model(Node("MatMul", "x", "fed", "y1"), Node("MatMul", "x", "cube", "y2"), Node("MatMul", "x", "ints", "y3"), Node("MatMul", "x", "y1", "y4"));
        model.Graph.Input.Add(new ValueInfoProto { Name = "fed" });
        model.Graph.Initializer.Add(FloatTensor("fed", [2, 2], [1f, 2f, 3f, 4f]));
        model.Graph.Initializer.Add(FloatTensor("cube", [1, 2, 2], [1f, 2f, 3f, 4f]));
        model.Graph.Initializer.Add(new TensorProto { Name = "ints", DataType = 6, Dims = { 2, 2 }, RawData = ByteString.CopyFrom(new byte[16]) });
        var before = model.Clone();

        Assert.Equal(0, Int8WeightQuantizer.Quantize(model));

        Assert.Equal(before, model);
    }

    [Fact]
    public void Quantize_UnknownFields_SurviveTheRoundTrip()
    {
        // Field 1 of ModelProto is ir_version, field 5 of NodeProto an attribute: neither is declared in our subset.
        var model = Model(Node("MatMul", "x", "w", "y"));
        model.Graph.Initializer.Add(FloatTensor("w", [2, 2], [1f, 2f, 3f, 4f]));
        var bytes = WithIrVersion(model.ToByteArray(), 9);

        var result = ModelProto.Parser.ParseFrom(Int8WeightQuantizer.Quantize(bytes, out _));

        Assert.Equal(9, IrVersion(result.ToByteArray()));
    }

    [Fact]
    public void Quantize_NotAProtobufMessage_ThrowsTheParsersError()
    {
        byte[] garbage = [.. Enumerable.Range(0, 4096).Select(i => (byte)(i * 31))];

        Assert.Throws<InvalidProtocolBufferException>(() => Int8WeightQuantizer.Quantize(garbage, out _));
    }

    [Fact]
    public void Quantize_MessageWithoutAGraph_SaysSo()
    {
        var error = Assert.Throws<InvalidDataException>(() => Int8WeightQuantizer.Quantize(new ModelProto().ToByteArray(), out _));

        Assert.Contains("no graph", error.Message, StringComparison.Ordinal);
    }

    private static ModelProto Model(params NodeProto[] nodes)
    {
        var model = new ModelProto { Graph = new GraphProto() };
        model.Graph.Node.AddRange(nodes);
        model.Graph.Input.Add(new ValueInfoProto { Name = "x" });
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 17 });
        return model;
    }

    private static NodeProto Node(string op, string a, string? b, string output)
    {
        var node = new NodeProto { OpType = op, Input = { a }, Output = { output } };
        if (b is not null)
        {
            node.Input.Add(b);
        }

        return node;
    }

    private static TensorProto FloatTensor(string name, long[] dims, float[] values)
    {
        var bytes = new byte[values.Length * 4];
        for (var i = 0; i < values.Length; i++)
        {
            BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * 4), values[i]);
        }

        return new TensorProto { Name = name, DataType = 1, Dims = { dims }, RawData = ByteString.CopyFrom(bytes) };
    }

    private static float[] Floats(TensorProto tensor) =>
        [.. Enumerable.Range(0, tensor.RawData.Length / 4).Select(i => BinaryPrimitives.ReadSingleLittleEndian(tensor.RawData.Span[(i * 4)..]))];

    private static TensorProto Initializer(ModelProto model, string name) => Assert.Single(model.Graph.Initializer, t => t.Name == name);

    private static bool IsFloatMatrix(GraphProto graph, string name) =>
        graph.Initializer.Any(t => t.Name == name && t.DataType == 1 && t.Dims.Count == 2);

    private static bool IsUsed(GraphProto graph, string name) => graph.Node.Any(n => n.Input.Contains(name));

    private static byte[] WithIrVersion(byte[] model, long version)
    {
        using var stream = new MemoryStream();
        var output = new CodedOutputStream(stream);
        output.WriteTag(1, WireFormat.WireType.Varint);
        output.WriteInt64(version);
        output.Flush();
        stream.Write(model);
        return stream.ToArray();
    }

    private static long IrVersion(byte[] model)
    {
        var input = new CodedInputStream(model);
        for (var tag = input.ReadTag(); tag != 0; tag = input.ReadTag())
        {
            if (tag == WireFormat.MakeTag(1, WireFormat.WireType.Varint))
            {
                return input.ReadInt64();
            }

            input.SkipLastField();
        }

        return -1;
    }
}
