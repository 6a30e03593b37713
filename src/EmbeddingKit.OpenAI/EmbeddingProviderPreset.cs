using Microsoft.Extensions.AI;

namespace EmbeddingKit.OpenAI;

/// <summary>
/// What EmbeddingKit knows about one OpenAI-compatible embedding provider: URL shape, batch limit, base64 and dimensions
/// support, default extra fields. Turn one into options with <see cref="OpenAICompatibleEmbeddingOptions.FromPreset"/>.
/// Provider behaviour changes; EmbeddingKit checks every response regardless (count, indexes, dimensions, values).
/// </summary>
public sealed class EmbeddingProviderPreset
{
    /// <summary>Gets the short name, also used as the provider name in exceptions and logs (for example <c>openai</c>).</summary>
    public required string Name { get; init; }

    /// <summary>Gets the human name of the provider.</summary>
    public required string DisplayName { get; init; }

    /// <summary>Gets the base URL; placeholders in braces (such as <c>{resource}</c>) must be replaced by the caller.</summary>
    public required string BaseUrl { get; init; }

    /// <summary>Gets the most inputs per request EmbeddingKit sends (at or below the provider's documented limit).</summary>
    public required int MaxInputsPerRequest { get; init; }

    /// <summary>Gets whether the provider accepts <c>encoding_format: base64</c>; when not, the preset asks for floats.</summary>
    public required bool SupportsBase64 { get; init; }

    /// <summary>Gets whether the provider honours a requested size for at least some models (the returned size is
    /// checked either way).</summary>
    public required bool SupportsDimensions { get; init; }

    /// <summary>Gets the request field carrying the wanted dimensions. Default <c>dimensions</c>.</summary>
    public string DimensionsFieldName { get; init; } = OpenAICompatibleEmbeddingDefaults.DimensionsFieldName;

    /// <summary>Gets the header carrying the API key. Default <c>Authorization</c> (as a bearer token).</summary>
    public string ApiKeyHeaderName { get; init; } = "Authorization";

    /// <summary>Gets whether the hosted service needs an API key (self-hosted servers usually do not).</summary>
    public bool RequiresApiKey { get; init; } = true;

    /// <summary>Gets extra request fields sent by default (for example <c>input_type: document</c>).</summary>
    public IReadOnlyDictionary<string, string> DefaultExtraFields { get; init; } = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>Gets extra request fields for search queries, sent instead of the same-named
    /// <see cref="DefaultExtraFields"/> (for example <c>input_type: query</c>); empty when the provider embeds queries
    /// and documents alike. Used through <see cref="CreateQueryOptions"/>.</summary>
    public IReadOnlyDictionary<string, string> QueryExtraFields { get; init; } = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>Creates the generation options for embedding search queries with this provider (its
    /// <see cref="QueryExtraFields"/> as additional properties), or null when queries need none.</summary>
    /// <returns>The options, or null.</returns>
    public EmbeddingGenerationOptions? CreateQueryOptions()
    {
        if (QueryExtraFields.Count == 0)
        {
            return null;
        }

        var properties = new AdditionalPropertiesDictionary();
        foreach (var (name, value) in QueryExtraFields)
        {
            properties[name] = value;
        }

        return new EmbeddingGenerationOptions { AdditionalProperties = properties };
    }

    /// <summary>Gets notes on quirks worth knowing.</summary>
    public string Notes { get; init; } = "";

    /// <summary>Returns the preset name.</summary>
    /// <returns>The name.</returns>
    public override string ToString() => Name;
}
