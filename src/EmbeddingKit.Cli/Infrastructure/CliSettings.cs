using System.CommandLine;
using EmbeddingKit.Postgres;
using Npgsql;

namespace EmbeddingKit.Cli.Infrastructure;

/// <summary>The settings of one CLI invocation: options first, then environment variables, then defaults.</summary>
internal sealed class CliSettings
{
    public const string DefaultSchema = "embeddingkit";

    private CliSettings(ParseResult parseResult)
    {
        ParseResult = parseResult;
        Connection = Value(CommonOptions.Connection, "EMBEDDINGKIT_CONNECTION");
        Schema = Value(CommonOptions.Schema, "EMBEDDINGKIT_SCHEMA") ?? DefaultSchema;
        Provider = Value(CommonOptions.Provider, "EMBEDDINGKIT_PROVIDER");
        BaseUrl = Value(CommonOptions.BaseUrl, "EMBEDDINGKIT_BASE_URL");
        ApiKey = Value(CommonOptions.ApiKey, "EMBEDDINGKIT_API_KEY");
        Model = Value(CommonOptions.Model, "EMBEDDINGKIT_MODEL");
        Dimensions = parseResult.GetValue(CommonOptions.Dimensions)
            ?? (int.TryParse(Environment.GetEnvironmentVariable("EMBEDDINGKIT_DIMENSIONS"), out var d) ? d : null);
        MaxBatchSize = parseResult.GetValue(CommonOptions.MaxBatchSize);
        MaxConcurrency = parseResult.GetValue(CommonOptions.MaxConcurrency);
        QueryPrefix = Value(CommonOptions.QueryPrefix, "EMBEDDINGKIT_QUERY_PREFIX");
        DocumentPrefix = Value(CommonOptions.DocumentPrefix, "EMBEDDINGKIT_DOCUMENT_PREFIX");
        ChunkTokens = parseResult.GetValue(CommonOptions.ChunkTokens)
            ?? (int.TryParse(Environment.GetEnvironmentVariable("EMBEDDINGKIT_CHUNK_TOKENS"), out var t) ? t : null);
        ChunkOverlap = parseResult.GetValue(CommonOptions.ChunkOverlap)
            ?? (int.TryParse(Environment.GetEnvironmentVariable("EMBEDDINGKIT_CHUNK_OVERLAP"), out var o) ? o : null);
        Verbose = parseResult.GetValue(CommonOptions.Verbose);
        try
        {
            PostgresIdentifier.Validate(Schema, "--schema");
        }
        catch (ArgumentException e)
        {
            throw new CliException($"invalid --schema '{Schema}': {e.Message.Split(" (Parameter", 2)[0]}", 2);
        }
    }

    public ParseResult ParseResult { get; }

    public string? Connection { get; }

    public string Schema { get; }

    public string? Provider { get; }

    public string? BaseUrl { get; }

    public string? ApiKey { get; }

    public string? Model { get; }

    public int? Dimensions { get; }

    public int? MaxBatchSize { get; }

    public int? MaxConcurrency { get; }

    /// <summary>Gets the text put before every search query (<c>--query-prefix</c>), if any.</summary>
    public string? QueryPrefix { get; }

    /// <summary>Gets the text put before every document (<c>--document-prefix</c>), if any.</summary>
    public string? DocumentPrefix { get; }

    /// <summary>Gets the chunk size in tokens (<c>--chunk-tokens</c>; 0: no chunking), or null for the model's default.</summary>
    public int? ChunkTokens { get; }

    /// <summary>Gets the chunk overlap in tokens (<c>--chunk-overlap</c>), or null for the default.</summary>
    public int? ChunkOverlap { get; }

    public bool Verbose { get; }

    /// <summary>How long <see cref="OpenDataSourceAsync"/> keeps retrying a database that is not reachable yet (a worker
    /// started before PostgreSQL, or during its restart). Zero: fail at once. Errors that waiting cannot fix (a wrong
    /// password, a missing database) fail at once either way.</summary>
    public TimeSpan WaitForDatabase { get; set; }

    /// <summary>Gets or sets the invocation's clock: the waits for the database, and the one the invocation's container
    /// registers (<see cref="CliHost"/>). <see cref="TimeProvider.System"/> unless a test sets another.</summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    public static CliSettings From(ParseResult parseResult) => new(parseResult);

    /// <summary>Opens the database: the given connection string, or the local PostgreSQL (started if needed).</summary>
    public async Task<NpgsqlDataSource> OpenDataSourceAsync(Action<string>? progress, CancellationToken cancellationToken)
    {
        var connectionString = Connection ?? await LocalPostgres.EnsureStartedAsync(progress, cancellationToken);
        NpgsqlDataSourceBuilder builder;
        try
        {
            builder = new NpgsqlDataSourceBuilder(connectionString);
        }
        catch (ArgumentException e)
        {
            throw new CliException($"bad connection string: {e.Message}", 2);
        }

        builder.ConnectionStringBuilder.ApplicationName ??= "embeddingkit-cli";
        builder.UseVector();
        var dataSource = builder.Build();
        var host = builder.ConnectionStringBuilder.Host;
        var port = builder.ConnectionStringBuilder.Port;
        var started = TimeProvider.GetTimestamp();
        var wait = CreateDatabaseWait($"PostgreSQL at {host}:{port}", progress);
        try
        {
            await wait.ExecuteAsync(
                static async (source, token) =>
                {
                    await using var connection = await source.OpenConnectionAsync(token);
                },
                dataSource,
                cancellationToken);
            return dataSource;
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException or System.Net.Sockets.SocketException)
        {
            await dataSource.DisposeAsync();
            var waited = TimeProvider.GetElapsedTime(started);
            var after = waited >= TimeSpan.FromSeconds(1) ? $" (after waiting {waited.TotalSeconds:0} s)" : string.Empty;
            throw new CliException($"cannot connect to PostgreSQL at {host}:{port}{after}: {OneLine(e)}", 3, e);
        }
        catch
        {
            await dataSource.DisposeAsync();
            throw;
        }
    }

    /// <summary>The retry of a start-up step against a database that may be restarting or cut off (see
    /// <see cref="WaitForDatabase"/>): steps that are safe to run again (migrations, tables, indexes) use it, so a worker
    /// whose connection drops while it starts waits like one started before PostgreSQL. Its budget counts from now.</summary>
    /// <param name="what">Names the database in the progress lines.</param>
    /// <param name="progress">Receives a line before each wait; null for none.</param>
    public Polly.ResiliencePipeline CreateDatabaseWait(string what, Action<string>? progress) =>
        PostgresDatabaseWait.Create(WaitForDatabase, TimeProvider, (e, delay) =>
            progress?.Invoke($"{what} is not reachable ({OneLine(e)}); retrying in {delay.TotalSeconds:0.#} s"));

    public static string OneLine(Exception e) => e.Message.ReplaceLineEndings(" ").Trim();

    private string? Value(Option<string?> option, string environmentVariable)
    {
        var value = ParseResult.GetValue(option);
        if (string.IsNullOrEmpty(value))
        {
            value = Environment.GetEnvironmentVariable(environmentVariable);
        }

        return string.IsNullOrEmpty(value) ? null : value;
    }
}
