using EmbeddingKit.Embedders;
using EmbeddingKit.OpenAI;
using EmbeddingKit.Runtime;
using Microsoft.Extensions.Configuration;

namespace EmbeddingKit.Samples;

/// <summary>
/// Builds an <see cref="EmbeddingModel"/> from a configuration section such as <c>EmbeddingKit:Embedder</c>:
/// the offline <see cref="HashingEmbeddingGenerator"/> by default, so every sample runs without a network, or the
/// OpenAI-compatible client when <c>BaseUrl</c> (or <c>Preset</c>) is set.
/// </summary>
/// <remarks>
/// Keys: <c>Model</c> (default <c>hashing-{Dimensions}</c>), <c>Dimensions</c> (default 384), <c>BaseUrl</c>,
/// <c>Preset</c> (for example <c>openai</c>, <c>ollama</c>), <c>ApiKey</c> (prefer the environment variable
/// <c>EmbeddingKit__Embedder__ApiKey</c> or user secrets to a file), <c>BatchSize</c> (default 64).
/// </remarks>
public static class SampleEmbedder
{
    public static EmbeddingModel FromConfiguration(IConfiguration section)
    {
        ArgumentNullException.ThrowIfNull(section);
        var dimensions = section.GetValue("Dimensions", HashingEmbeddingGenerator.DefaultDimensions);
        var name = section["Model"] is { Length: > 0 } model ? model : $"hashing-{dimensions}";
        var batchSize = section.GetValue("BatchSize", 64);
        var baseUrl = section["BaseUrl"] is { Length: > 0 } url ? new Uri(url) : null;
        var preset = section["Preset"];
        if (baseUrl is null && string.IsNullOrEmpty(preset))
        {
            return new EmbeddingModel(name, dimensions, new HashingEmbeddingGenerator(dimensions)) { BatchSize = batchSize };
        }

        // #region openai-compatible
        var options = string.IsNullOrEmpty(preset)
            ? new OpenAICompatibleEmbeddingOptions { BaseUrl = baseUrl, Model = name }
            : OpenAICompatibleEmbeddingOptions.FromPreset(EmbeddingProviderPresets.Get(preset), name, baseUrl: baseUrl);
        options.ApiKey = section["ApiKey"] is { Length: > 0 } key ? key : null;
        options.Dimensions = dimensions;
        return new EmbeddingModel(name, dimensions, OpenAICompatibleEmbeddingGenerator.Create(options)) { BatchSize = batchSize };
        // #endregion openai-compatible
    }
}
