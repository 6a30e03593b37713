using EmbeddingKit.Chunking;
using EmbeddingKit.Onnx.Internal;
using EmbeddingKit.Runtime;
using Microsoft.Extensions.AI;

namespace EmbeddingKit.Onnx;

/// <summary>
/// A BERT-family sentence encoder run locally with ONNX Runtime: where its graph and WordPiece vocabulary come from, its
/// pooling, its token limit, its casing and its query and document prefixes. <see cref="LocalModels"/> has the shipped
/// presets; any other such model (bge-small, e5-small, gte-small, ...) is described with
/// <see cref="FromFiles"/> and its settings. Value-equal.
/// </summary>
public sealed record LocalModel
{
    /// <summary>The key of <see cref="GeneratedEmbeddings{TEmbedding}.AdditionalProperties"/> that holds how many inputs
    /// of the call were cut at <see cref="MaxTokens"/> (an <see cref="int"/>).</summary>
    public const string TruncatedInputsProperty = "truncated_inputs";

    /// <summary>Describes a model.</summary>
    /// <param name="name">The model name (the natural key of stored vectors).</param>
    /// <param name="model">The ONNX graph: inputs <c>input_ids</c>, <c>attention_mask</c> and optionally
    /// <c>token_type_ids</c>; a token-vector output (<c>last_hidden_state</c> or the first of rank 3).</param>
    /// <param name="vocabulary">The WordPiece vocabulary (<c>vocab.txt</c>, one token per line).</param>
    public LocalModel(string name, LocalModelFile model, LocalModelFile vocabulary)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(vocabulary);
        Name = name;
        Model = model;
        Vocabulary = vocabulary;
    }

    /// <summary>Gets the model name.</summary>
    public string Name
    {
        get;
        init
        {
            ArgumentException.ThrowIfNullOrWhiteSpace(value);
            field = value;
        }
    }

    /// <summary>Gets the ONNX graph.</summary>
    public LocalModelFile Model { get; init => field = value ?? throw new ArgumentNullException(nameof(value)); }

    /// <summary>Gets the WordPiece vocabulary.</summary>
    public LocalModelFile Vocabulary { get; init => field = value ?? throw new ArgumentNullException(nameof(value)); }

    /// <summary>Gets the pooling. Default <see cref="LocalModelPooling.Mean"/>.</summary>
    public LocalModelPooling Pooling { get; init; } = LocalModelPooling.Mean;

    /// <summary>Gets the most tokens of one input, <c>[CLS]</c> and <c>[SEP]</c> included; longer inputs are cut there
    /// and counted (see <see cref="TruncatedInputsProperty"/>). Default 512, the position limit of BERT models.</summary>
    public int MaxTokens
    {
        get;
        init
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 3);
            ArgumentOutOfRangeException.ThrowIfGreaterThan(value, 8192);
            field = value;
        }
    } = 512;

    /// <summary>Gets whether text is lower-cased (and accents stripped) before WordPiece, as uncased BERT vocabularies
    /// need. Default true.</summary>
    public bool LowerCase { get; init; } = true;

    /// <summary>Gets the text put before every query (arctic-embed: <c>"Represent this sentence for searching relevant
    /// passages: "</c>; e5: <c>"query: "</c>). Default none.</summary>
    public string? QueryPrefix { get; init; }

    /// <summary>Gets the number format of the matrix multiplies. Default <see cref="LocalModelWeights.Float32"/>, the graph
    /// as shipped; <see cref="LocalModelWeights.Int8"/> quantizes its weights when the model is loaded. The vectors
    /// differ, so a model with other weights should have another <see cref="Name"/>.</summary>
    public LocalModelWeights Weights
    {
        get;
        init
        {
            if (!Enum.IsDefined(value))
            {
                throw new ArgumentOutOfRangeException(nameof(value), value, "Not a LocalModelWeights value.");
            }

            field = value;
        }
    }

    /// <summary>Gets the text put before every document (e5: <c>"passage: "</c>). Default none.</summary>
    public string? DocumentPrefix { get; init; }

    /// <summary>Describes a model from files on disk, with <paramref name="pooling"/>, 512 tokens and lower-casing;
    /// change the rest with a <c>with</c> expression.</summary>
    /// <param name="name">The model name.</param>
    /// <param name="modelPath">The path of the ONNX graph.</param>
    /// <param name="vocabularyPath">The path of <c>vocab.txt</c>.</param>
    /// <param name="pooling">The pooling. Default <see cref="LocalModelPooling.Mean"/>.</param>
    public static LocalModel FromFiles(string name, string modelPath, string vocabularyPath, LocalModelPooling pooling = LocalModelPooling.Mean) =>
        new(name, LocalModelFile.FromPath(modelPath), LocalModelFile.FromPath(vocabularyPath)) { Pooling = pooling };

    /// <summary>Creates an embedder of this model. The ONNX session and the tokenizer are loaded once per process and
    /// shared by every embedder of the same files; disposing an embedder leaves them loaded.</summary>
    /// <param name="options">Batch size and threads; default <see cref="LocalEmbeddingOptions"/>'s defaults.</param>
    /// <exception cref="EmbeddingConfigurationException">A file is missing or not a usable model or vocabulary (the
    /// message names it), or the options are out of range.</exception>
    public IEmbeddingGenerator<string, Embedding<float>> CreateGenerator(LocalEmbeddingOptions? options = null)
    {
        options ??= new LocalEmbeddingOptions();
        options.Validate();
        return new OnnxEmbeddingGenerator(this, ModelSession.Get(this, options.IntraOpThreads), options);
    }

    /// <summary>The counter of this model's WordPiece tokens (<c>[CLS]</c> and <c>[SEP]</c> not counted), for
    /// <see cref="TextChunker"/>. Loads the vocabulary once per process, not the graph.</summary>
    /// <exception cref="EmbeddingConfigurationException">The vocabulary is missing or not a WordPiece vocabulary.</exception>
    public ITokenCounter CreateTokenCounter() => WordPieceTokenCounter.Get(this);

    /// <summary>A chunker sized to this model's window: chunks of at most <see cref="MaxTokens"/> less
    /// <c>[CLS]</c>, <c>[SEP]</c> and the <see cref="DocumentPrefix"/>'s tokens, unless <paramref name="options"/> asks for
    /// fewer; the overlap of <paramref name="options"/> (default <see cref="TextChunkerDefaults.OverlapTokens"/>).</summary>
    /// <param name="options">The sizes; <see cref="TextChunkerOptions.MaxTokens"/> above the window is lowered to it.
    /// Default: the window, with the default overlap.</param>
    /// <exception cref="EmbeddingConfigurationException">As for <see cref="CreateTokenCounter"/>, or an option is out of
    /// range.</exception>
    public TextChunker CreateChunker(TextChunkerOptions? options = null)
    {
        var counter = CreateTokenCounter();
        var window = MaxTokens - 2 - (DocumentPrefix is null ? 0 : counter.CountTokens(DocumentPrefix));
        var sized = new TextChunkerOptions
        {
            MaxTokens = options is null ? window : Math.Min(options.MaxTokens, window),
            OverlapTokens = options?.OverlapTokens ?? TextChunkerDefaults.OverlapTokens,
            TitleSeparator = options?.TitleSeparator ?? TextChunkerDefaults.TitleSeparator,
        };
        sized.OverlapTokens = Math.Min(sized.OverlapTokens, sized.MaxTokens / 2);
        return new TextChunker(counter, sized);
    }

    /// <summary>Creates the <see cref="EmbeddingModel"/> of this model for the runtime: its embedder, its dimensions
    /// (read from the graph), its prefixes and batch size, and one batch in flight at a time (the session already uses
    /// every core it was given).</summary>
    /// <param name="options">Batch size and threads; default <see cref="LocalEmbeddingOptions"/>'s defaults.</param>
    /// <exception cref="EmbeddingConfigurationException">As for <see cref="CreateGenerator"/>.</exception>
    public EmbeddingModel ToEmbeddingModel(LocalEmbeddingOptions? options = null)
    {
        options ??= new LocalEmbeddingOptions();
        var generator = (OnnxEmbeddingGenerator)CreateGenerator(options);
        return new EmbeddingModel(Name, generator.Dimensions, generator)
        {
            QueryPrefix = QueryPrefix,
            DocumentPrefix = DocumentPrefix,
            BatchSize = options.BatchSize * 4,
            MaxConcurrentBatches = 1,
        };
    }
}
