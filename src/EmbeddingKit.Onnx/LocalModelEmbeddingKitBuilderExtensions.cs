using EmbeddingKit.Onnx;

namespace EmbeddingKit.Hosting;

/// <summary>Wires a local ONNX model into <see cref="EmbeddingKitBuilder"/> in one line (in the builder's namespace, so
/// no extra <c>using</c> is needed).</summary>
public static class LocalModelEmbeddingKitBuilderExtensions
{
    /// <summary>Adds a local model: a preset name (<c>arctic-embed-xs</c>, <c>all-minilm-l6-v2</c>, or either with
    /// <c>-int8</c>). The session is loaded when the model registry is first needed.</summary>
    /// <param name="builder">The builder.</param>
    /// <param name="preset">A name from <see cref="LocalModels"/>.</param>
    /// <param name="configure">Adjusts batch size and threads.</param>
    /// <exception cref="ArgumentException">No preset has that name.</exception>
    public static EmbeddingKitBuilder AddLocalModel(this EmbeddingKitBuilder builder, string preset = LocalModels.ArcticEmbedXsName, Action<LocalEmbeddingOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrWhiteSpace(preset);
        var model = LocalModels.Find(preset)
            ?? throw new ArgumentException($"No local model preset is named '{preset}'; known: {string.Join(", ", LocalModels.All.Select(m => m.Name))}.", nameof(preset));
        return builder.AddLocalModel(model, configure);
    }

    /// <summary>Adds a local model described by <paramref name="model"/> (a preset or one loaded from files).</summary>
    /// <param name="builder">The builder.</param>
    /// <param name="model">The model.</param>
    /// <param name="configure">Adjusts batch size and threads.</param>
    public static EmbeddingKitBuilder AddLocalModel(this EmbeddingKitBuilder builder, LocalModel model, Action<LocalEmbeddingOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(model);
        var options = new LocalEmbeddingOptions();
        configure?.Invoke(options);
        options.Validate();
        return builder.AddModel(_ => model.ToEmbeddingModel(options));
    }
}
