namespace EmbeddingKit.Postgres.Search;

/// <summary>What <see cref="SearchTuner"/> measures.</summary>
public sealed class SearchTunerOptions
{
    /// <summary>Gets the k of recall@k. Default 10.</summary>
    public int K { get; init; } = VectorSearchDefaults.K;

    /// <summary>Gets the number of stored vectors of the model used as queries. Default 100.</summary>
    public int SampleSize { get; init; } = 100;

    /// <summary>Gets the recall@k the recommendation must reach. Default 0.95.</summary>
    public double TargetRecall { get; init; } = 0.95;

    /// <summary>Gets how sure the recommendation must be that its recall reaches <see cref="TargetRecall"/> on queries
    /// other than the sample's: a setting qualifies when the one-sided lower confidence bound of its mean recall
    /// (<see cref="SearchTuningRow.RecallLowerBound"/>) reaches the target. Default 0.95; 0.5 compares the sample's mean
    /// itself, which new queries miss about half the time when the mean lands just above the target.</summary>
    public double Confidence { get; init; } = 0.95;

    /// <summary>Gets whether the sampled stored vectors are the queries themselves (each one's own row left out), the
    /// tuner's earlier behaviour. Default false: each is moved off the index first (by its nearest neighbour's distance, in a seeded
    /// random direction), because a stored point as the query overstates the recall new queries get (see
    /// <see cref="SearchTuner"/>).</summary>
    public bool UseStoredVectorsAsQueries { get; init; }

    /// <summary>Gets the oversample factors of two-stage search to try, smallest first. Default 2, 4, 8, 12, 16, 24, 32, 48,
    /// 64: steps of about 1.5×, so the smallest factor reaching the target costs at most half again what it must.</summary>
    public IReadOnlyList<int> Oversamples { get; init; } = [2, 4, 8, 12, 16, 24, 32, 48, 64];

    /// <summary>Gets the <c>hnsw.ef_search</c> values of plain HNSW search to try, smallest first. Default 40, 64, 100,
    /// 140, 200, 280, 400.</summary>
    public IReadOnlyList<int> EfSearches { get; init; } = [40, 64, 100, 140, 200, 280, 400];

    /// <summary>Gets the entity type to sample and search, or null for all of the model's.</summary>
    public string? EntityType { get; init; }

    /// <summary>Gets the seed of the sample: the same seed picks the same stored vectors. Default 0.</summary>
    public int Seed { get; init; }

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> when a setting is out of range.</summary>
    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(K, 1, nameof(K));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(K, VectorSearchDefaults.MaxK - 1, nameof(K));
        ArgumentOutOfRangeException.ThrowIfLessThan(SampleSize, 1, nameof(SampleSize));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(SampleSize, 10_000, nameof(SampleSize));
        if (TargetRecall is <= 0 or > 1 || double.IsNaN(TargetRecall))
        {
            throw new ArgumentOutOfRangeException(nameof(TargetRecall), TargetRecall, "The target recall must be in (0, 1].");
        }

        if (Confidence is < 0.5 or > 0.999 || double.IsNaN(Confidence))
        {
            throw new ArgumentOutOfRangeException(nameof(Confidence), Confidence, "The confidence must be between 0.5 and 0.999.");
        }

        ArgumentNullException.ThrowIfNull(Oversamples);
        ArgumentNullException.ThrowIfNull(EfSearches);
        foreach (var oversample in Oversamples)
        {
            new VectorSearchOptions { K = K + 1, Oversample = oversample }.Validate();
        }

        foreach (var efSearch in EfSearches)
        {
            new VectorSearchOptions { K = K + 1, Path = SearchPath.Hnsw, EfSearch = efSearch }.Validate();
        }
    }
}
