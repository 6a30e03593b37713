using System.Globalization;
using System.Text;
using Microsoft.Extensions.AI;

namespace EmbeddingKit.Runtime;

/// <summary>
/// One embedding model as the runtime knows it: its embedder, its dimensions, where its vectors go, and how it embeds
/// documents and queries (some models want an <c>input_type</c> or an instruction prefix that differs between the two).
/// </summary>
public sealed class EmbeddingModel
{
    /// <summary>Creates a model.</summary>
    /// <param name="name">The model name used in tasks and stored rows (the natural key).</param>
    /// <param name="dimensions">The vector dimensions (1 to 4,000 for halfvec HNSW).</param>
    /// <param name="generator">Any <see cref="IEmbeddingGenerator{TInput, TEmbedding}"/>: EmbeddingKit's OpenAI-compatible
    /// client, the offline hashing embedder, or another Microsoft.Extensions.AI generator.</param>
    public EmbeddingModel(string name, int dimensions, IEmbeddingGenerator<string, Embedding<float>> generator)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentOutOfRangeException.ThrowIfLessThan(dimensions, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(dimensions, 16_000);
        ArgumentNullException.ThrowIfNull(generator);
        Name = name;
        Dimensions = dimensions;
        Generator = generator;
    }

    /// <summary>Gets the model name.</summary>
    public string Name { get; }

    /// <summary>Gets the vector dimensions.</summary>
    public int Dimensions { get; }

    /// <summary>Gets the embedder.</summary>
    public IEmbeddingGenerator<string, Embedding<float>> Generator { get; }

    /// <summary>Gets a text prepended to every document (for example <c>"passage: "</c>). Default none.</summary>
    public string? DocumentPrefix { get; init; }

    /// <summary>Gets a text prepended to every query (for example <c>"query: "</c>). Default none.</summary>
    public string? QueryPrefix { get; init; }

    /// <summary>Gets the generation options for documents (for example <c>input_type = document</c> in
    /// <see cref="EmbeddingGenerationOptions.AdditionalProperties"/>). Default none.</summary>
    public EmbeddingGenerationOptions? DocumentOptions { get; init; }

    /// <summary>Gets the generation options for queries. Default none.</summary>
    public EmbeddingGenerationOptions? QueryOptions { get; init; }

    /// <summary>Gets the embedder of multimodal tasks (text, images, video frames from the host's
    /// <see cref="Embedders.IAssetSource"/>), or null when the model embeds text only.</summary>
    public IEmbeddingGenerator<Embedders.MultimodalInput, Embedding<float>>? MultimodalGenerator { get; init; }

    /// <summary>Gets the documents per generator call when the generator does not plan its own requests. A generator that
    /// offers an <see cref="Embedders.IEmbeddingRequestPlanner"/> (the OpenAI-compatible client does) is called once per
    /// provider request it plans, and this size does not apply. Default 64.</summary>
    public int BatchSize { get; init; } = 64;

    /// <summary>Gets the generator calls in flight at once for one batch of tasks (provider requests, for a generator that
    /// plans its requests). Default 4.</summary>
    public int MaxConcurrentBatches { get; init; } = 4;

    /// <summary>Gets the storage target (for the reference pgvector storage: the table), or null for the storage's
    /// default for these dimensions.</summary>
    public string? StorageTarget { get; init; }

    /// <summary>Gets what, besides the document, determines a stored vector (see <see cref="Storage.ContentHash"/>):
    /// the document prefix, the document options, the provider model id and dimensions the generator reports, and the
    /// configured dimensions. Computed once.</summary>
    internal string Fingerprint => _fingerprint ??= BuildFingerprint();

    private string? _fingerprint;

    private string BuildFingerprint()
    {
        var metadata = Generator.GetService<EmbeddingGeneratorMetadata>();
        var text = new StringBuilder();
        Append(text, "prefix", DocumentPrefix);
        Append(text, "dimensions", Dimensions.ToString(CultureInfo.InvariantCulture));
        Append(text, "provider", metadata?.ProviderName);
        Append(text, "provider-model", metadata?.DefaultModelId);
        Append(text, "provider-dimensions", metadata?.DefaultModelDimensions?.ToString(CultureInfo.InvariantCulture));
        Append(text, "options-model", DocumentOptions?.ModelId);
        Append(text, "options-dimensions", DocumentOptions?.Dimensions?.ToString(CultureInfo.InvariantCulture));
        foreach (var (key, value) in (DocumentOptions?.AdditionalProperties ?? []).OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            Append(text, "option:" + key, Convert.ToString(value, CultureInfo.InvariantCulture));
        }

        return text.ToString();

        static void Append(StringBuilder text, string name, string? value)
        {
            if (value is not null)
            {
                text.Append(name).Append('=').Append(value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal)).Append('\n');
            }
        }
    }

    /// <summary>Gets the chunker of documents the builder returns as whole text (<see cref="DocumentResult.Text"/>), or null
    /// (the default) for one vector per entity. With a chunker, a document longer than one chunk is stored as one row
    /// per chunk, each with its own content hash and span, so that an edit re-embeds only the chunks whose text changed;
    /// a document that fits in one chunk stays one unchunked vector. Build it with the model's own token counter
    /// (<c>Cl100kTokenCounter</c> for OpenAI models, <c>LocalModel.CreateChunker</c> for local ones). Documents the
    /// builder returns already chunked (<see cref="DocumentResult.Chunked(string, IReadOnlyList{Chunking.TextChunk})"/>)
    /// are stored as given, with or without a chunker.</summary>
    public Chunking.TextChunker? Chunker { get; init; }

    /// <summary>Gets whether new tasks are enqueued for this model by default (dual-write during a rollout). Default true.</summary>
    public bool WriteByDefault { get; init; } = true;
}
