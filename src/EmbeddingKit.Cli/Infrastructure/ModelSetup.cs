using System.Globalization;
using EmbeddingKit.Chunking;
using EmbeddingKit.Embedders;
using EmbeddingKit.Onnx;
using EmbeddingKit.OpenAI;
using EmbeddingKit.Runtime;
using Microsoft.Extensions.AI;

namespace EmbeddingKit.Cli.Infrastructure;

/// <summary>
/// The embedding model of one invocation, built from the common options: the offline hashing embedder (default), a
/// local ONNX model (<c>--provider local --model arctic-embed-xs</c>; the demo's default), a generic OpenAI-compatible
/// endpoint, or a provider preset. The API key goes into the client and nowhere else.
/// </summary>
internal sealed class ModelSetup : IDisposable
{
    public const string Hashing = "hashing";
    public const string OpenAICompatible = "openai-compatible";
    public const string Local = "local";

    private ModelSetup(string provider, EmbeddingModel model, int? dimensions)
    {
        Provider = provider;
        Model = model;
        RequestedDimensions = dimensions;
    }

    /// <summary>Gets the provider name: <c>hashing</c>, <c>local</c>, <c>openai-compatible</c> or a preset name.</summary>
    public string Provider { get; }

    /// <summary>Gets the model (for <c>embed</c> without <c>--dimensions</c> on a remote provider its dimensions are a
    /// placeholder; see <see cref="RequestedDimensions"/>).</summary>
    public EmbeddingModel Model { get; }

    /// <summary>Gets the dimensions asked for, or null when the provider's own size is taken.</summary>
    public int? RequestedDimensions { get; }

    public bool IsHashing => Provider == Hashing;

    /// <summary>Gets whether the model runs in this process (hashing or a local ONNX model): nothing to probe, no key.</summary>
    public bool IsInProcess => Provider is Hashing or Local;

    /// <summary>Builds the model. Remote providers need <c>--model</c> and, when vectors are stored, <c>--dimensions</c>.</summary>
    public static ModelSetup Create(CliSettings settings, bool requireDimensions = true) => Create(settings, requireDimensions, null);

    /// <summary>Builds the model; for a remote provider without <c>--dimensions</c>, one request with a short text finds
    /// the provider's native size (used by the demo, so that <c>--base-url/--api-key/--model</c> suffice).</summary>
    /// <param name="settings">The settings.</param>
    /// <param name="defaultProvider">The provider when neither <c>--provider</c> nor <c>--base-url</c> says (the demo:
    /// <c>local</c>); null for <c>hashing</c>.</param>
    /// <param name="cancellationToken">Cancels the probe.</param>
    public static async Task<ModelSetup> CreateProbingAsync(CliSettings settings, string? defaultProvider, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var probe = Create(settings, requireDimensions: false, null, defaultProvider);
        if (probe.IsInProcess || settings.Dimensions is not null)
        {
            return probe;
        }

        int dimensions;
        using (probe)
        {
            try
            {
                var embeddings = await probe.Model.Generator.GenerateAsync(["dimension probe"], cancellationToken: cancellationToken);
                dimensions = embeddings[0].Vector.Length;
            }
            catch (EmbeddingKitException e)
            {
                throw new CliException($"{e.GetType().Name}: {CliSettings.OneLine(e)}", 4, e);
            }
        }

        return Create(settings, requireDimensions: false, dimensions, defaultProvider);
    }

    private static ModelSetup Create(CliSettings settings, bool requireDimensions, int? probedDimensions, string? defaultProvider = null)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var provider = settings.Provider?.Trim().ToLowerInvariant() ?? (settings.BaseUrl is null ? defaultProvider ?? Hashing : OpenAICompatible);
        if (settings.MaxBatchSize is < 1 or > 10_000)
        {
            throw new CliException("--max-batch-size must be between 1 and 10000", 2);
        }

        if (settings.MaxConcurrency is < 1 or > 256)
        {
            throw new CliException("--max-concurrency must be between 1 and 256", 2);
        }

        if (settings.Dimensions is < 1 or > 16_000)
        {
            throw new CliException("--dimensions must be between 1 and 16000", 2);
        }

        return provider switch
        {
            Hashing => CreateHashing(settings),
            Local => CreateLocal(settings),
            _ => CreateRemote(settings, provider, requireDimensions, probedDimensions),
        };
    }

    /// <summary>The local preset named <paramref name="name"/>, or null.</summary>
    public static LocalModel? LocalPreset(string name) => LocalModels.Find(name);

    /// <summary>The dimensions a model name implies without asking a provider (<c>hashing-N</c>, a local preset), or null.</summary>
    public static int? KnownDimensions(string name) =>
        HashingDimensions(name) ?? (LocalPreset(name) is not null ? LocalPresetDimensions : null);

    /// <summary>The dimensions of every local preset (checked against the graph when one is loaded).</summary>
    public const int LocalPresetDimensions = 384;

    /// <summary>The hashing model named <paramref name="name"/> (<c>hashing-{dimensions}</c>), or null when the name is
    /// not of that form.</summary>
    public static int? HashingDimensions(string name) =>
        name.StartsWith("hashing-", StringComparison.Ordinal)
        && int.TryParse(name.AsSpan("hashing-".Length), NumberStyles.None, CultureInfo.InvariantCulture, out var dimensions)
        && dimensions is >= 2 and <= 4000
            ? dimensions
            : null;

    public void Dispose() => Model.Generator.Dispose();

    private static ModelSetup CreateHashing(CliSettings settings)
    {
        int dimensions;
        string name;
        if (settings.Model is { } model)
        {
            var fromName = HashingDimensions(model)
                ?? throw new CliException($"unknown model '{model}' for provider hashing: use hashing-<dimensions> (for example hashing-384), or choose a provider with --provider", 2);
            if (settings.Dimensions is { } given && given != fromName)
            {
                throw new CliException($"model '{model}' has {fromName} dimensions, not {given}", 2);
            }

            (name, dimensions) = (model, fromName);
        }
        else
        {
            dimensions = settings.Dimensions ?? HashingEmbeddingGenerator.DefaultDimensions;
            if (dimensions is < 2 or > 4000)
            {
                throw new CliException("the hashing embedder needs --dimensions between 2 and 4000", 2);
            }

            name = "hashing-" + dimensions.ToString(CultureInfo.InvariantCulture);
        }

        var embedding = new EmbeddingModel(name, dimensions, new HashingEmbeddingGenerator(dimensions))
        {
            BatchSize = settings.MaxBatchSize ?? 256,
            MaxConcurrentBatches = settings.MaxConcurrency ?? 1,
            DocumentPrefix = settings.DocumentPrefix,
            QueryPrefix = settings.QueryPrefix,
        };
        return new ModelSetup(Hashing, WithChunking(embedding, settings, () => Cl100kTokenCounter.Instance, window: null), dimensions);
    }

    private static ModelSetup CreateLocal(CliSettings settings)
    {
        var name = settings.Model ?? LocalModels.ArcticEmbedXsName;
        var preset = LocalPreset(name)
            ?? throw new CliException($"unknown model '{name}' for provider local; known: {string.Join(", ", LocalModels.All.Select(m => m.Name))}", 2);
        if (settings.BaseUrl is not null)
        {
            throw new CliException("provider local runs in this process: --base-url does not apply", 2);
        }

        var options = new LocalEmbeddingOptions();
        if (settings.MaxBatchSize is { } batch)
        {
            options.BatchSize = Math.Min(batch, 1024);
        }

        EmbeddingModel embedding;
        try
        {
            embedding = preset.ToEmbeddingModel(options);
        }
        catch (EmbeddingConfigurationException e)
        {
            throw new CliException(CliSettings.OneLine(e), 2);
        }

        if (settings.Dimensions is { } given && given != embedding.Dimensions)
        {
            throw new CliException($"model '{preset.Name}' has {embedding.Dimensions} dimensions, not {given}", 2);
        }

        // The window holds [CLS], [SEP] and the document prefix besides the chunk.
        var window = preset.MaxTokens - 2 - (embedding.DocumentPrefix is null ? 0 : 16);
        return new ModelSetup(Local, WithChunking(embedding, settings, preset.CreateTokenCounter, window), embedding.Dimensions);
    }

    private static ModelSetup CreateRemote(CliSettings settings, string provider, bool requireDimensions, int? probedDimensions)
    {
        EmbeddingProviderPreset? preset = null;
        if (provider != OpenAICompatible)
        {
            preset = EmbeddingProviderPresets.All.FirstOrDefault(p => p.Name == provider)
                ?? throw new CliException($"unknown provider '{provider}'; known: {Hashing}, {OpenAICompatible}, {string.Join(", ", EmbeddingProviderPresets.All.Select(p => p.Name))}", 2);
        }

        var model = settings.Model ?? throw new CliException($"provider {provider} needs --model (env EMBEDDINGKIT_MODEL)", 2);
        Uri? baseUrl = null;
        if (settings.BaseUrl is { } url)
        {
            if (!Uri.TryCreate(url, UriKind.Absolute, out baseUrl) || (baseUrl.Scheme != Uri.UriSchemeHttp && baseUrl.Scheme != Uri.UriSchemeHttps))
            {
                throw new CliException($"--base-url must be an absolute http or https URL", 2);
            }
        }
        else if (preset is null)
        {
            throw new CliException($"provider {OpenAICompatible} needs --base-url (env EMBEDDINGKIT_BASE_URL)", 2);
        }
        else if (preset.BaseUrl.Contains('{', StringComparison.Ordinal))
        {
            throw new CliException($"provider {provider} needs --base-url ({preset.BaseUrl} with the placeholder filled in)", 2);
        }

        if (requireDimensions && settings.Dimensions is null)
        {
            throw new CliException($"provider {provider} needs --dimensions (the size of the stored vectors)", 2);
        }

        var options = preset is null
            ? new OpenAICompatibleEmbeddingOptions { BaseUrl = baseUrl, Model = model, ProviderName = OpenAICompatible }
            : OpenAICompatibleEmbeddingOptions.FromPreset(preset, model, null, baseUrl);
        options.ApiKey = settings.ApiKey;
        if (preset is null || preset.SupportsDimensions)
        {
            options.Dimensions = settings.Dimensions;
        }

        if (settings.MaxBatchSize is { } batch)
        {
            options.MaxInputsPerRequest = batch;
        }

        if (settings.MaxConcurrency is { } concurrency)
        {
            options.MaxConcurrentRequests = concurrency;
        }

        IEmbeddingGenerator<string, Embedding<float>> generator;
        try
        {
            generator = OpenAICompatibleEmbeddingGenerator.Create(options);
        }
        catch (EmbeddingConfigurationException e)
        {
            throw new CliException(CliSettings.OneLine(e), 2);
        }

        // Queries go with the preset's query fields (Voyage input_type=query, Jina task=retrieval.query) and the query
        // prefix; documents with the preset's defaults and the document prefix.
        var embedding = new EmbeddingModel(model, settings.Dimensions ?? probedDimensions ?? 1, generator)
        {
            BatchSize = options.MaxInputsPerRequest,
            MaxConcurrentBatches = options.MaxConcurrentRequests,
            DocumentPrefix = settings.DocumentPrefix,
            QueryPrefix = settings.QueryPrefix,
            QueryOptions = preset?.CreateQueryOptions(),
        };
        // OpenAI's text-embedding models read 8,191 cl100k tokens; other providers' tokenizers are not known here, so their
        // documents are chunked only when asked (with cl100k counts as the estimate).
        var openAIWindow = model.StartsWith("text-embedding-", StringComparison.Ordinal) ? 8191 - (settings.DocumentPrefix is null ? 0 : 16) : (int?)null;
        return new ModelSetup(provider, WithChunking(embedding, settings, () => Cl100kTokenCounter.Instance, openAIWindow), settings.Dimensions ?? probedDimensions);
    }

    /// <summary>The model with a chunker: of <c>--chunk-tokens</c> tokens when given (0: none), else of the model's window
    /// when it has a known one (documents longer than the window are chunked, shorter ones stay one vector). The token
    /// counter loads on first use.</summary>
    private static EmbeddingModel WithChunking(EmbeddingModel model, CliSettings settings, Func<ITokenCounter> counter, int? window)
    {
        var tokens = settings.ChunkTokens ?? window;
        if (tokens is null or 0)
        {
            return model;
        }

        var options = new TextChunkerOptions { MaxTokens = tokens.Value, OverlapTokens = settings.ChunkOverlap ?? Math.Min(TextChunkerDefaults.OverlapTokens, tokens.Value / 2) };
        TextChunker chunker;
        try
        {
            chunker = new TextChunker(new LazyTokenCounter(counter), options);
        }
        catch (EmbeddingConfigurationException e)
        {
            throw new CliException($"--chunk-tokens {options.MaxTokens} --chunk-overlap {options.OverlapTokens}: {CliSettings.OneLine(e)}", 2);
        }

        return new EmbeddingModel(model.Name, model.Dimensions, model.Generator)
        {
            DocumentPrefix = model.DocumentPrefix,
            QueryPrefix = model.QueryPrefix,
            DocumentOptions = model.DocumentOptions,
            QueryOptions = model.QueryOptions,
            MultimodalGenerator = model.MultimodalGenerator,
            BatchSize = model.BatchSize,
            MaxConcurrentBatches = model.MaxConcurrentBatches,
            StorageTarget = model.StorageTarget,
            WriteByDefault = model.WriteByDefault,
            Chunker = chunker,
        };
    }

    /// <summary>A token counter built on first use (a local model's vocabulary, cl100k's ranks).</summary>
    private sealed class LazyTokenCounter(Func<ITokenCounter> create) : ITokenCounter
    {
        private readonly Lazy<ITokenCounter> _counter = new(create);

        public int CountTokens(ReadOnlySpan<char> text) => _counter.Value.CountTokens(text);
    }
}
