using EmbeddingKit.Postgres.Search;

namespace EmbeddingKit.Postgres.Tests.Search;

/// <summary>The tuner's recommendation rule on hand-made rows: a setting qualifies by the lower confidence bound of its
/// mean recall, not by the sample's mean.</summary>
public sealed class SearchTunerRecommendationTests
{
    private static SearchTuningRow TwoStage(int oversample, double recall, double lowerBound, double p50) =>
        new(SearchPath.TwoStage, oversample, VectorSearchDefaults.EfSearch, recall, p50, p50 * 2) { RecallLowerBound = lowerBound };

    private static SearchTuningRow Hnsw(int efSearch, double recall, double lowerBound, double p50) =>
        new(SearchPath.Hnsw, 1, efSearch, recall, p50, p50 * 2) { RecallLowerBound = lowerBound };

    [Fact]
    public void Recommend_MeanJustAboveTheTargetButNotItsBound_TakesTheNextSetting()
    {
        // The shape of the search bench's 100,000-row run: oversample 48 measured 0.955 on the tuner's 100 queries and
        // 0.9465 on 200 new ones; 64 clears the target with room.
        SearchTuningRow[] rows = [TwoStage(32, 0.93, 0.915, 3.9), TwoStage(48, 0.955, 0.944, 4.3), TwoStage(64, 0.972, 0.963, 5.2), Hnsw(100, 0.97, 0.96, 3.0)];

        var recommendation = SearchTuner.Recommend(rows, new SearchTunerOptions());

        Assert.Equal(SearchPath.TwoStage, recommendation.Path);
        Assert.Equal(64, recommendation.Oversample);
        Assert.True(recommendation.MeetsTarget);
        Assert.Contains("at least 0.963 with 0.95 confidence", recommendation.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Recommend_RowsWithoutABound_CompareTheMean()
    {
        // A row made without RecallLowerBound carries its mean there: the rule of a tuner at confidence 0.5.
        SearchTuningRow[] rows =
        [
            new(SearchPath.TwoStage, 48, 40, 0.955, 4.3, 8.6),
            new(SearchPath.TwoStage, 64, 40, 0.972, 5.2, 10.4),
        ];

        Assert.Equal(0.955, rows[0].RecallLowerBound);
        Assert.Equal(48, SearchTuner.Recommend(rows, new SearchTunerOptions()).Oversample);
    }

    [Fact]
    public void Recommend_NoBoundReachesTheTarget_RecommendsTheBestBoundAndSaysItFallsShort()
    {
        SearchTuningRow[] rows = [TwoStage(64, 0.951, 0.93, 5.2), Hnsw(400, 0.949, 0.94, 6.0)];

        var recommendation = SearchTuner.Recommend(rows, new SearchTunerOptions());

        Assert.False(recommendation.MeetsTarget);
        Assert.Equal(SearchPath.Hnsw, recommendation.Path);
        Assert.Equal(400, recommendation.EfSearch);
        Assert.Contains("with 0.95 confidence", recommendation.Reason, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0.5, 0.0)]
    [InlineData(0.9, 1.2816)]
    [InlineData(0.95, 1.6449)]
    [InlineData(0.99, 2.3263)]
    public void NormalQuantile_KnownValues(double p, double expected)
    {
        Assert.Equal(expected, SearchTuner.NormalQuantile(p), tolerance: 5e-4);
    }

    [Fact]
    public void LowerConfidenceBound_IsTheMeanLessZTimesTheStandardError()
    {
        // 100 queries: 90 found all 10 neighbours, 10 found 6. Mean 0.96; sample sd 0.1206; standard error 0.01206.
        var recalls = Enumerable.Repeat(1.0, 90).Concat(Enumerable.Repeat(0.6, 10)).ToArray();

        var bound = SearchTuner.LowerConfidenceBound(recalls, 0.95);

        Assert.Equal(0.96 - (1.6449 * 0.012060), bound, tolerance: 1e-3);
        Assert.Equal(0.96, SearchTuner.LowerConfidenceBound(recalls, 0.5), tolerance: 1e-9);
        Assert.Equal(1.0, SearchTuner.LowerConfidenceBound(Enumerable.Repeat(1.0, 50).ToArray(), 0.95));
    }

    [Theory]
    [InlineData(0.49)]
    [InlineData(1.0)]
    [InlineData(double.NaN)]
    public void Validate_ConfidenceOutOfRange_Throws(double confidence)
    {
        var options = new SearchTunerOptions { Confidence = confidence };

        var error = Assert.Throws<ArgumentOutOfRangeException>(options.Validate);
        Assert.Equal(nameof(SearchTunerOptions.Confidence), error.ParamName);
    }

    [Fact]
    public void Move_PutsTheQueryOffThePointAtAboutTheGivenDistance_Seeded()
    {
        var random = new Random(5);
        var vector = new Half[768];
        for (var i = 0; i < vector.Length; i++)
        {
            vector[i] = (Half)(random.NextDouble() - 0.5);
        }

        var unit = vector.Select(h => (float)h).ToArray();
        EmbeddingKit.Vectors.VectorMath.Normalize(unit);

        var moved = SearchTuner.Move(vector, 0.5f, new Random(1));
        var again = SearchTuner.Move(vector, 0.5f, new Random(1));
        var still = SearchTuner.Move(vector, 0f, new Random(1));

        var point = moved.Select(h => (float)h).ToArray();
        Assert.Equal(1.0, System.Numerics.Tensors.TensorPrimitives.Norm(point), tolerance: 1e-3);
        // A step of 0.5 at right angles to a unit vector, normalized again: sqrt(2 (1 - 1 / sqrt(1.25))) = 0.459 away.
        Assert.Equal(0.459, System.Numerics.Tensors.TensorPrimitives.Distance(point, unit), tolerance: 0.03);
        Assert.Equal(moved, again);
        Assert.Equal(1.0, System.Numerics.Tensors.TensorPrimitives.CosineSimilarity(still.Select(h => (float)h).ToArray(), unit), tolerance: 1e-3);
    }
}
