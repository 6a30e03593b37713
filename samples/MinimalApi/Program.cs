using EmbeddingKit.Hosting;
using EmbeddingKit.Postgres.Rollout;
using EmbeddingKit.Postgres.Search;
using EmbeddingKit.Postgres.Storage;
using EmbeddingKit.Postgres.Tasks;
using EmbeddingKit.Runtime;
using EmbeddingKit.Samples;
using EmbeddingKit.Storage;
using EmbeddingKit.Tasks;
using MinimalApi;
using Npgsql;

var builder = WebApplication.CreateBuilder(args);

// Configuration: appsettings.json, then environment variables (ConnectionStrings__EmbeddingKit, EmbeddingKit__Schema,
// EmbeddingKit__Embedder__BaseUrl, EmbeddingKit__Worker__Concurrency, ...), then the command line.
var connectionString = builder.Configuration.GetConnectionString("EmbeddingKit")
    ?? throw new InvalidOperationException("Set ConnectionStrings:EmbeddingKit.");
var schema = builder.Configuration["EmbeddingKit:Schema"] ?? "minimalapi";
var model = SampleEmbedder.FromConfiguration(builder.Configuration.GetSection("EmbeddingKit:Embedder"));

var dataSourceBuilder = new NpgsqlDataSourceBuilder(connectionString);
dataSourceBuilder.UseVector();
var dataSource = dataSourceBuilder.Build();

// #region registration
builder.Services.AddSingleton(new ArticleStore(dataSource, schema));
builder.Services.AddEmbeddingKit(kit => kit
    .AddModel(model)
    .UseDocumentBuilder<ArticleDocuments>()
    .UsePostgres(dataSource, schema, applyMigrationsOnStart: true)
    .AddWorker());                                  // options from "EmbeddingKit:Worker"
builder.Services.AddHostedService<StartupTasks>();  // the articles table and the search indexes, after migrations
// #endregion registration

// #region search-registration
// Search: UsePostgres registered EmbeddingSearchService (with the storage, the rollout state and the index manager) and
// the lexical index the worker keeps beside the vectors (a tsvector of each article's text, written in the same
// transaction): nothing more to register for vector, hybrid or lexical search. A host with its own full-text search
// may still register it as an ILexicalSearch.
// #endregion search-registration

var app = builder.Build();

// #region write-and-enqueue
app.MapPost("/articles", async (NewArticle article, ArticleStore articles, PostgresEmbeddingTaskQueue queue, EmbeddingModelRegistry models, CancellationToken ct) =>
{
    if (string.IsNullOrWhiteSpace(article.Title) || string.IsNullOrWhiteSpace(article.Body))
    {
        return Results.ValidationProblem(new Dictionary<string, string[]> { ["article"] = ["Title and body are required."] });
    }

    // The article and its embedding task commit together or not at all: no lost update, no orphan task.
    await using var connection = await dataSource.OpenConnectionAsync(ct);
    await using var transaction = await connection.BeginTransactionAsync(ct);
    var id = await articles.InsertAsync(article, connection, transaction, ct);
    var requests = models.WriteModels
        .Select(m => new EnqueueRequest(ArticleStore.EntityType, id.ToString(System.Globalization.CultureInfo.InvariantCulture), m))
        .ToList();
    await queue.EnqueueAsync(requests, connection, transaction, ct);
    await transaction.CommitAsync(ct);
    return Results.Created($"/articles/{id}", new { id });
});
// #endregion write-and-enqueue

// #region search
app.MapGet("/search", async (string q, int? k, string? mode, EmbeddingSearchService search, ArticleStore articles, CancellationToken ct) =>
{
    if (string.IsNullOrWhiteSpace(q))
    {
        return Results.ValidationProblem(new Dictionary<string, string[]> { ["q"] = ["A query is required."] });
    }

    // mode=hybrid fuses the vectors with the lexical index by relative score fusion (exact names and rare words the
    // vectors miss); mode=lexical is full-text search alone. Default: the active model's saved vector path (two-stage
    // or HNSW); articles it has not embedded yet come from the lexical index (Path = "fallback-lexical").
    if (mode is not (null or "vector" or "hybrid" or "lexical"))
    {
        return Results.ValidationProblem(new Dictionary<string, string[]> { ["mode"] = ["Use vector, hybrid or lexical."] });
    }

    SearchPath? path = mode switch { "hybrid" => SearchPath.Hybrid, "lexical" => SearchPath.Lexical, _ => null };

    var result = await search.SearchAsync(q, ArticleStore.EntityType, Math.Clamp(k ?? 10, 1, 100), path: path, cancellationToken: ct);
    var ids = result.Hits.Select(h => long.Parse(h.EntityId, System.Globalization.CultureInfo.InvariantCulture)).ToList();
    var titles = await articles.GetTitlesAsync(ids, ct);
    var hits = result.Hits.Zip(ids)
        .Where(pair => titles.ContainsKey(pair.Second))
        .Select(pair => new ArticleHit(pair.Second, titles[pair.Second], pair.First.Score, pair.First.Model, pair.First.Path))
        .ToList();
    return Results.Ok(new SearchResponse(result.Model, result.FallbackUsed, hits));
});
// #endregion search

app.MapGet("/health", () => Results.Ok("ok"));

await app.RunAsync();
await dataSource.DisposeAsync();
