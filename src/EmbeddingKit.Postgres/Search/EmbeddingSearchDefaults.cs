namespace EmbeddingKit.Postgres.Search;

/// <summary>The defaults of <see cref="EmbeddingSearchOptions"/>.</summary>
public static class EmbeddingSearchDefaults
{
    /// <summary>1,000 entities.</summary>
    public const int UncoveredLimit = 1000;
}
