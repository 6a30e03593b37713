using EmbeddingKit.Embedders;
using EmbeddingKit.Postgres.Search;
using EmbeddingKit.Postgres.Storage;
using EmbeddingKit.Runtime;
using EmbeddingKit.Storage;
using EmbeddingKit.Tasks;
using EmbeddingKit.TestInfrastructure.Postgres;
using EmbeddingKit.Vectors;

namespace EmbeddingKit.Postgres.Tests.Search;

/// <summary><see cref="HybridTuner"/> on the real PostgreSQL: documents stored with hashing vectors and lexical
/// documents, labelled queries made of a document's rare words.</summary>
public sealed class HybridTunerTests(PostgresServer server) : SchemaTest(server)
{
    private const string Model = "hashing-16";
    private const string Type = "doc";
    private const int Dimensions = 16;

    private static readonly (string Id, string Text)[] Documents =
    [
        ("zstd", "zstd compresses archives quickly with dictionaries"),
        ("nginx", "nginx serves static files and proxies http requests"),
        ("gimp", "gimp edits raster images with layers and brushes"),
        ("postgres", "postgresql stores relational data with transactions"),
        ("vim", "vim edits text files with modal keystrokes"),
        ("curl", "curl transfers data from urls over many protocols"),
        ("git", "git tracks revisions of source code in repositories"),
        ("ffmpeg", "ffmpeg converts audio and video between formats"),
    ];

    private static readonly EmbeddingModel Hashing = new(Model, Dimensions, new HashingEmbeddingGenerator(Dimensions));

    private EmbeddingTable _table = null!;
    private LexicalIndex _lexical = null!;
    private HybridTuner _tuner = null!;

    public override async ValueTask InitializeAsync()
    {
        await base.InitializeAsync();
        _table = new EmbeddingTable(Schema, Dimensions);
        var manager = new EmbeddingIndexManager(DataSource);
        await manager.EnsureTableAsync(_table, Ct);
        var storage = new PgvectorEmbeddingStorage(DataSource, _ => _table) { LexicalSchema = Schema };
        var vectors = await Hashing.Generator.GenerateAsync(Documents.Select(d => d.Text), cancellationToken: Ct);
        await storage.UpsertAsync(
            [.. Documents.Select((d, i) => new EmbeddingRecord(new EmbeddingTaskKey(Type, d.Id, Model), Normalize(vectors[i].Vector.Span), ContentHash.Compute(Model, d.Text), 1) { Lexical = new LexicalDocument(d.Text, null) })],
            Ct);
        await manager.EnsureModelIndexesAsync(_table, Model, Ct);
        _lexical = new LexicalIndex(DataSource, Schema);
        _tuner = new HybridTuner(new PgvectorSearch(DataSource), new QueryEmbedder(new EmbeddingModelRegistry(Hashing)), new SearchModelStore(DataSource, Schema, storage), _lexical);
    }

    private static Half[] Normalize(ReadOnlySpan<float> vector)
    {
        var half = new Half[vector.Length];
        VectorMath.NormalizeToHalf(vector, half);
        return half;
    }

    // Queries of a document's own rare words: the lexical list ranks the right document first; hashing vectors of
    // different text mostly do not.
    private static IReadOnlyList<LabelledQuery> Queries() =>
    [
        new("dictionaries archives", ["zstd"]),
        new("proxies static", ["nginx"]),
        new("raster brushes", ["gimp"]),
        new("relational transactions", ["postgres"]),
        new("modal keystrokes", ["vim"]),
        new("urls protocols", ["curl"]),
        new("revisions repositories", ["git"]),
        new("audio video formats", ["ffmpeg"]),
    ];

    [Fact]
    public async Task TuneAsync_GenerousBudget_RecommendsTheBestMrrOfTheGridAndMeasuresBothSides()
    {
        var options = new HybridTunerOptions
        {
            EntityType = Type, K = 5, LatencyBudget = TimeSpan.FromHours(1), Fusions = [HybridFusion.ReciprocalRank], RrfKs = [10, 60], LexicalWeights = [0.5, 4], Depths = [5, 20],
        };

        var result = await _tuner.TuneAsync(_table, Model, Queries(), options, Ct);

        Assert.Equal(8, result.Rows.Count); // 2 × 2 × 2
        Assert.Equal(8, result.QueryCount);
        Assert.Equal(1.0, result.Lexical.MrrAtK, 9); // every query's words name its document only
        Assert.Equal(1.0, result.Lexical.RecallAtK, 9);
        Assert.Null(result.Vector.Settings);
        Assert.True(result.WithinBudget);
        Assert.Equal(result.Rows.Max(r => Math.Round(r.MrrAtK, 4)), Math.Round(result.Recommendation.Mrr!.Value, 4));
        Assert.Contains(result.Rows, r => r.Settings == result.Recommendation with { Mrr = null });

        // The lexical side is perfect here, so the heavier lexical weight is at least as good as the lighter one.
        Assert.True(result.Rows.Where(r => r.Settings!.LexicalWeight == 4).Max(r => r.MrrAtK) >= result.Rows.Where(r => r.Settings!.LexicalWeight == 0.5).Max(r => r.MrrAtK));
        Assert.Contains("within the", result.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TuneAsync_DefaultFusions_MeasuresRelativeScoreAndReciprocalRankRows()
    {
        var options = new HybridTunerOptions { EntityType = Type, K = 5, LatencyBudget = TimeSpan.FromHours(1), RrfKs = [60], LexicalWeights = [1], RelativeScoreLexicalWeights = [0.3, 0.8], Depths = [20] };

        var result = await _tuner.TuneAsync(_table, Model, Queries(), options, Ct);

        Assert.Equal(
            [(HybridFusion.RelativeScore, 0.3), (HybridFusion.RelativeScore, 0.8), (HybridFusion.ReciprocalRank, 1.0)],
            result.Rows.Select(r => (r.Settings!.Fusion, r.Settings.LexicalWeight)).Order());
        Assert.Equal(result.Rows.Max(r => Math.Round(r.MrrAtK, 4)), Math.Round(result.Recommendation.Mrr!.Value, 4));
        Assert.Throws<ArgumentException>(() => new HybridTunerOptions { EntityType = Type, Fusions = [] }.Validate());
        Assert.Throws<ArgumentException>(() => new HybridTunerOptions { EntityType = Type, Fusions = [HybridFusion.RelativeScore], RelativeScoreLexicalWeights = [] }.Validate());
    }

    [Fact]
    public async Task SaveAsync_Recommendation_IsTheEntityTypesFusionSetting()
    {
        var result = await _tuner.TuneAsync(_table, Model, Queries(), new HybridTunerOptions { EntityType = Type, K = 5, LatencyBudget = TimeSpan.FromHours(1), Depths = [20] }, Ct);

        await _tuner.SaveAsync(result, Ct);

        var saved = await _lexical.GetHybridSettingsAsync(Type, Ct);
        Assert.NotNull(saved);
        Assert.Equal(result.Recommendation with { Mrr = null }, saved with { Mrr = null });
        Assert.Equal(result.Recommendation.Mrr!.Value, saved.Mrr!.Value, 6);
    }

    [Fact]
    public async Task TuneAsync_BudgetNoSettingMeets_RecommendsTheFastestAndSaysSo()
    {
        var result = await _tuner.TuneAsync(_table, Model, Queries(), new HybridTunerOptions { EntityType = Type, K = 5, LatencyBudget = TimeSpan.FromTicks(1), Depths = [5, 20] }, Ct);

        Assert.False(result.WithinBudget);
        Assert.Equal(result.Rows.Min(r => r.P50Milliseconds), result.Rows.Single(r => r.Settings == result.Recommendation with { Mrr = null }).P50Milliseconds);
        Assert.Contains("no setting is within", result.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TuneAsync_BadQueries_ThrowsArgumentExceptionNamingTheQuery()
    {
        var options = new HybridTunerOptions { EntityType = Type };

        await Assert.ThrowsAsync<ArgumentException>(() => _tuner.TuneAsync(_table, Model, [], options, Ct).AsTask());
        var e = await Assert.ThrowsAsync<ArgumentException>(() => _tuner.TuneAsync(_table, Model, [new("fine", ["zstd"]), new("no answer", [])], options, Ct).AsTask());
        Assert.Contains("query 2", e.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => new HybridTunerOptions { EntityType = Type, K = 50, Depths = [20] }.Validate());
    }
}
