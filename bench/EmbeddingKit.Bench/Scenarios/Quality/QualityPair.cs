namespace EmbeddingKit.Bench.Scenarios.Quality;

/// <summary>One evaluation pair: a query (a package's one-line synopsis) and the one document it should find (the
/// package's long description, synopsis removed), identified by <see cref="Id"/>.</summary>
internal sealed record QualityPair(string Id, string Query, string Document);
