namespace EmbeddingKit.Postgres.Search;

/// <summary>The setting <see cref="SearchTuner"/> recommends.</summary>
/// <param name="Path">Two-stage when some oversample factor reached the target recall, otherwise plain HNSW.</param>
/// <param name="Oversample">The oversample factor (two-stage), or 1.</param>
/// <param name="EfSearch">The <c>hnsw.ef_search</c> to configure.</param>
/// <param name="RecallAtK">The recall@k measured at this setting.</param>
/// <param name="MeetsTarget">Whether it reached the target recall (false: no setting did; this is the best measured).</param>
/// <param name="Reason">Why, in one sentence.</param>
public sealed record SearchRecommendation(SearchPath Path, int Oversample, int EfSearch, double RecallAtK, bool MeetsTarget, string Reason)
{
    /// <summary>Returns search options with this setting and <paramref name="k"/> results.</summary>
    public VectorSearchOptions ToSearchOptions(int k = VectorSearchDefaults.K) =>
        new() { K = k, Path = Path, Oversample = Oversample, EfSearch = EfSearch };
}
