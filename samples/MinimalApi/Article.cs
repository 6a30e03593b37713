namespace MinimalApi;

/// <summary>The body of <c>POST /articles</c>.</summary>
public sealed record NewArticle(string Title, string Body);

/// <summary>One search hit as <c>GET /search</c> returns it.</summary>
public sealed record ArticleHit(long Id, string Title, double Score, string? Model, string Path);

/// <summary>The answer of <c>GET /search</c>.</summary>
public sealed record SearchResponse(string Model, bool FallbackUsed, IReadOnlyList<ArticleHit> Hits);
