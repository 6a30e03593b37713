using System.CommandLine;

namespace EmbeddingKit.Cli.Infrastructure;

/// <summary>The options every command understands (a contract: names are checked from outside).</summary>
internal static class CommonOptions
{
    public static readonly Option<string?> Connection = new("--connection")
    {
        Description = "PostgreSQL connection string (env EMBEDDINGKIT_CONNECTION). Absent: a local PostgreSQL in ~/.embeddingkit, started on demand.",
        Recursive = true,
    };

    public static readonly Option<string?> Schema = new("--schema")
    {
        Description = "Schema for EmbeddingKit's tables (env EMBEDDINGKIT_SCHEMA, default embeddingkit).",
        Recursive = true,
    };

    public static readonly Option<string?> Provider = new("--provider")
    {
        Description = "hashing, local (an ONNX model in this process: --model arctic-embed-xs or all-minilm-l6-v2), openai-compatible, or a preset: openai, azure-openai, deepinfra, dashscope, jina, voyage, mistral, ollama, vllm, tei (env EMBEDDINGKIT_PROVIDER; default hashing, offline; the demo's default is local).",
        Recursive = true,
    };

    public static readonly Option<string?> BaseUrl = new("--base-url")
    {
        Description = "Provider base URL (overrides the preset's; env EMBEDDINGKIT_BASE_URL).",
        Recursive = true,
    };

    public static readonly Option<string?> ApiKey = new("--api-key")
    {
        Description = "Provider API key (env EMBEDDINGKIT_API_KEY). Never printed.",
        Recursive = true,
    };

    public static readonly Option<string?> Model = new("--model")
    {
        Description = "Embedding model name (env EMBEDDINGKIT_MODEL).",
        Recursive = true,
    };

    public static readonly Option<int?> Dimensions = new("--dimensions")
    {
        Description = "Embedding dimensions (env EMBEDDINGKIT_DIMENSIONS).",
        Recursive = true,
    };

    public static readonly Option<int?> MaxBatchSize = new("--max-batch-size")
    {
        Description = "Inputs per provider request.",
        Recursive = true,
    };

    public static readonly Option<int?> MaxConcurrency = new("--max-concurrency")
    {
        Description = "Concurrent provider requests.",
        Recursive = true,
    };

    public static readonly Option<string?> QueryPrefix = new("--query-prefix")
    {
        Description = "Text put before every search query, for models trained with one such as e5's \"query: \" (env EMBEDDINGKIT_QUERY_PREFIX). Used by search and embed --query.",
        Recursive = true,
    };

    public static readonly Option<string?> DocumentPrefix = new("--document-prefix")
    {
        Description = "Text put before every document, for example e5's \"passage: \" (env EMBEDDINGKIT_DOCUMENT_PREFIX). Part of the content hash: changing it re-embeds.",
        Recursive = true,
    };

    public static readonly Option<int?> ChunkTokens = new("--chunk-tokens")
    {
        Description = "Chunk documents longer than this many tokens of the model's tokenizer into one vector per chunk (env EMBEDDINGKIT_CHUNK_TOKENS); 0 for one vector per document. Default: the model's input window for local models (WordPiece) and OpenAI's text-embedding models (cl100k); none for others.",
        Recursive = true,
    };

    public static readonly Option<int?> ChunkOverlap = new("--chunk-overlap")
    {
        Description = $"Tokens each chunk repeats from the one before it (env EMBEDDINGKIT_CHUNK_OVERLAP). Default {EmbeddingKit.Chunking.TextChunkerDefaults.OverlapTokens}.",
        Recursive = true,
    };

    public static readonly Option<bool> Json = new("--json")
    {
        Description = "Print one JSON document on stdout and nothing else there.",
    };

    public static readonly Option<bool> Verbose = new("--verbose")
    {
        Description = "Show stack traces and debug logs.",
        Recursive = true,
    };

    public static void AddTo(RootCommand root)
    {
        foreach (var option in new Option[] { Connection, Schema, Provider, BaseUrl, ApiKey, Model, Dimensions, MaxBatchSize, MaxConcurrency, QueryPrefix, DocumentPrefix, ChunkTokens, ChunkOverlap, Verbose })
        {
            root.Options.Add(option);
        }
    }
}
