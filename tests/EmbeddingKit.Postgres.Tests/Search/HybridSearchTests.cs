using EmbeddingKit.Postgres.Search;
using EmbeddingKit.Postgres.Storage;
using EmbeddingKit.Storage;
using EmbeddingKit.Tasks;
using EmbeddingKit.TestInfrastructure.Postgres;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace EmbeddingKit.Postgres.Tests.Search;

/// <summary>The lexical index kept by the storage and the fused search over it, on the real PostgreSQL.</summary>
public sealed class HybridSearchTests(PostgresServer server) : SchemaTest(server)
{
    private const string Model = "model-h";
    private const string Type = "doc";
    private const int Dimensions = 8;

    // Each document's vector is a unit vector on its own axis (the query picks the nearest by axis), and its text is
    // unrelated to the axis, so a test can tell which list found what.
    private static readonly (string Id, int Axis, string Text, string? Title)[] Documents =
    [
        ("a", 0, "PostgreSQL stores vectors with the pgvector extension", "Vectors"),
        ("b", 1, "The libzstd1 package version 1.5.6 compresses archives", null),
        ("c", 2, "Running shoes for long distance races", "Shoes"),
        ("d", 3, "Gardening tools and compost for spring", null),
        ("e", 4, "A recipe for bread with sourdough starter", null),
    ];

    private EmbeddingTable _table = null!;
    private PgvectorEmbeddingStorage _storage = null!;
    private PgvectorSearch _search = null!;
    private LexicalIndex _lexical = null!;

    public override async ValueTask InitializeAsync()
    {
        await base.InitializeAsync();
        _table = new EmbeddingTable(Schema, Dimensions);
        var manager = new EmbeddingIndexManager(DataSource);
        await manager.EnsureTableAsync(_table, Ct);
        _storage = new PgvectorEmbeddingStorage(DataSource, _ => _table) { LexicalSchema = Schema };
        _search = new PgvectorSearch(DataSource);
        _lexical = new LexicalIndex(DataSource, Schema);
        await _storage.UpsertAsync([.. Documents.Select(d => Record(d.Id, d.Axis, 1, d.Text, d.Title))], Ct);
        await manager.EnsureModelIndexesAsync(_table, Model, Ct);
    }

    private static Half[] Axis(int axis)
    {
        var vector = new Half[Dimensions];
        vector[axis] = Half.One;
        return vector;
    }

    private static EmbeddingRecord Record(string id, int axis, long generation, string text, string? title = null, string model = Model) =>
        new(new EmbeddingTaskKey(Type, id, model), Axis(axis), ContentHash.Compute(model, text), generation) { Lexical = new LexicalDocument(text, title) };

    private HybridVectorList Vector(int axis, SearchPath path = SearchPath.Hnsw) => new(_table, Model, Axis(axis)) { Path = path };

    private Task<IReadOnlyList<HybridSearchHit>> SearchAsync(string? text, int axis = 4, HybridSearchOptions? options = null, SearchPath path = SearchPath.Hnsw) =>
        _search.HybridSearchAsync([Vector(axis, path)], text, _lexical, options ?? new HybridSearchOptions { K = 3, EntityType = Type }, cancellationToken: Ct).AsTask();

    [Theory]
    [InlineData(SearchPath.Hnsw)]
    [InlineData(SearchPath.TwoStage)]
    [InlineData(SearchPath.Exact)]
    public async Task HybridSearchAsync_ExactTermTheVectorMisses_FusesBothListsWithTheirRanks(SearchPath path)
    {
        // The vector is nearest to "e" (axis 4); the words name only "b".
        var hits = await SearchAsync("libzstd1 1.5.6", axis: 4, path: path, options: new HybridSearchOptions { K = 3, EntityType = Type, Settings = HybridSettings.ReciprocalRankDefault });

        var vectorFirst = Assert.Single(hits, h => h.EntityId == "e");
        Assert.Equal(1, vectorFirst.VectorRank);
        Assert.Null(vectorFirst.LexicalRank);
        var lexicalFirst = Assert.Single(hits, h => h.EntityId == "b");
        Assert.Equal(1, lexicalFirst.LexicalRank);
        Assert.NotNull(lexicalFirst.VectorRank); // every row is a vector candidate at depth 40
        Assert.Equal("b", hits[0].EntityId); // found by both lists: 1/(60+1) + 1/(60+rank)
        Assert.Equal((1.0 / 61) + (1.0 / (60 + lexicalFirst.VectorRank!.Value)), hits[0].Score, 9);
    }

    [Theory]
    [InlineData(SearchPath.Hnsw)]
    [InlineData(SearchPath.Exact)]
    public async Task HybridSearchAsync_RelativeScore_AddsTheScaledDistanceAndTheDiscountedLexicalRank(SearchPath path)
    {
        // The query vector is (0.6, 0.8): "b" (axis 1) is nearest, "a" (axis 0) next, the others orthogonal; the words
        // name only "a". Relative score: the vector list's distances scaled to [0, 1] ("b" 1, "a" 0.75, the rest 0),
        // plus the lexical weight times 1 / log2(1 + rank).
        var query = new Half[Dimensions];
        (query[0], query[1]) = ((Half)0.6f, (Half)0.8f);
        var settings = HybridSettings.Default with { LexicalWeight = 0.5 };
        var options = new HybridSearchOptions { K = 5, EntityType = Type, Settings = settings };

        var hits = await _search.HybridSearchAsync([new HybridVectorList(_table, Model, query) { Path = path }], "pgvector extension", _lexical, options, cancellationToken: Ct);

        Assert.Equal(HybridFusion.RelativeScore, settings.Fusion);
        Assert.Equal(["a", "b"], hits.Take(2).Select(h => h.EntityId));
        Assert.Equal(0.75 + 0.5, hits[0].Score, 3); // fp16 vectors: distances to about 1e-3
        Assert.Equal((2, 1), (hits[0].VectorRank!.Value, hits[0].LexicalRank!.Value));
        Assert.Equal(1.0, hits[1].Score, 3);
        Assert.All(hits.Skip(2), h => Assert.Equal(0.0, h.Score, 3));

        // A heavier lexical weight only scales the lexical part; with none, the vector list's order comes back.
        var vectorOnly = await _search.HybridSearchAsync(
            [new HybridVectorList(_table, Model, query) { Path = path }], "pgvector extension", _lexical,
            new HybridSearchOptions { K = 2, EntityType = Type, Settings = settings with { LexicalWeight = 0 } }, cancellationToken: Ct);
        Assert.Equal(["b", "a"], vectorOnly.Select(h => h.EntityId));
    }

    [Fact]
    public async Task HybridSearchAsync_LexicalOnly_RanksByTsRankCdWithTheTitleWeightedAbove()
    {
        await _storage.UpsertAsync([Record("f", 5, 1, "Shoes, a shop of shoes")], Ct);

        // "shoes" is the title (weight A) and text (B) of "c", and twice the text of "f" (B, B).
        var hits = await _search.HybridSearchAsync([], "shoes", _lexical, new HybridSearchOptions { K = 5, EntityType = Type }, cancellationToken: Ct);

        Assert.Equal(["c", "f"], hits.Select(h => h.EntityId));
        Assert.All(hits, h => Assert.Null(h.VectorRank));
        Assert.Equal([1, 2], hits.Select(h => h.LexicalRank!.Value));
    }

    [Fact]
    public async Task HybridSearchAsync_RankLimit_RanksByTheTermsAMatchLacksThenByScore()
    {
        // Short documents with one of the words score highest by ts_rank (normalized by length); long ones hold all four
        // words, three or two. With a rank limit a match is ranked by how many of the query's terms it lacks, then by
        // score; without one (null), by score alone.
        var filler = string.Join(' ', Enumerable.Repeat("lorem ipsum dolor sit amet", 40));
        await _storage.UpsertAsync(
        [
            Record("all1", 5, 1, $"zephyr quokka marimba ocelot {filler}"),
            Record("all2", 5, 1, $"{filler} ocelot marimba quokka zephyr"),
            Record("three1", 5, 1, $"zephyr quokka marimba {filler}"),
            Record("two1", 5, 1, $"zephyr ocelot {filler}"),
            .. Enumerable.Range(0, 5).Select(i => Record($"one{i}", 5, 1, i % 2 == 0 ? "zephyr" : "marimba")),
        ], Ct);
        async Task<string[]> RankedAsync(int? limit, int depth, int k = 3) =>
        [
            .. (await _search.HybridSearchAsync(
                [], "zephyr quokka marimba ocelot", _lexical,
                new HybridSearchOptions { K = k, EntityType = Type, LexicalRankLimit = limit, Settings = HybridSettings.Default with { LexicalDepth = depth } },
                cancellationToken: Ct)).Select(h => h.EntityId),
        ];

        var unlimited = await RankedAsync(null, 3);
        var tiered = await RankedAsync(1000, depth: 6, k: 6);

        Assert.All(unlimited, id => Assert.StartsWith("one", id, StringComparison.Ordinal));
        Assert.Equal(["all1", "all2"], tiered[..2].Order(StringComparer.Ordinal));
        Assert.Equal(["three1", "two1"], tiered[2..4]); // lacks one term, then two
        Assert.All(tiered[4..], id => Assert.StartsWith("one", id, StringComparison.Ordinal));
        Assert.Equal(["all1", "all2"], (await RankedAsync(2, 2)).Order(StringComparer.Ordinal));
        Assert.Equal(["all1", "all2", "three1"], (await RankedAsync(1, 3)).Order(StringComparer.Ordinal)); // never below the depth
    }

    [Theory]
    [InlineData(10)]
    [InlineData(1000)]
    public async Task HybridSearchAsync_DeepTwoStageListAtTheLargestOversample_AnswersWithCappedCandidates(int k)
    {
        // Depth 200 at oversample 64 (what the tuners may pick together) would be 12,800 candidates: capped, not refused.
        var list = new HybridVectorList(_table, Model, Axis(1)) { Path = SearchPath.TwoStage, Oversample = 64 };
        var options = new HybridSearchOptions { K = k, EntityType = Type, Settings = HybridSettings.Default with { VectorDepth = 200, LexicalDepth = 200 } };

        var hits = await _search.HybridSearchAsync([list], "libzstd1", _lexical, options, cancellationToken: Ct);

        Assert.Equal("b", hits[0].EntityId);
        Assert.Equal(Documents.Length, hits.Count);
    }

    [Theory]
    [InlineData("!!! ... ??? ;;; ---")]
    [InlineData("the and of a an")]
    [InlineData("a & b | !c ( ) : * <-> 'x' \\ \"")]
    [InlineData("(((shoes")]
    [InlineData("shoes:* & !(bread | ")]
    [InlineData("nul\0inside")]
    [InlineData("   ")]
    public async Task HybridSearchAsync_HostileText_AnswersWithoutErrorAndTheVectorListStillAnswers(string text)
    {
        var hits = await SearchAsync(text, axis: 2);

        Assert.Equal("c", hits[0].EntityId);
        Assert.Equal(1, hits[0].VectorRank);
    }

    [Fact]
    public async Task HybridSearchAsync_TenThousandCharacters_AnswersWithoutError()
    {
        var text = string.Concat(Enumerable.Repeat("sourdough & !| ():* ", 600)); // 12,000 characters, cut at 10,000

        var hits = await SearchAsync(text, axis: 2);

        Assert.Equal(1, hits.Single(h => h.EntityId == "c").VectorRank);
        Assert.Contains(hits, h => h.EntityId == "e" && h.LexicalRank == 1);
    }

    [Fact]
    public async Task HybridSearchAsync_ActiveAndFallbackLists_AHitCarriesTheChunkSpanOfTheActiveListElseOfTheFallback()
    {
        const string Previous = "model-g";
        var a = Documents[0];
        var b = Documents[1];
        await _storage.UpsertAsync(
        [
            Record(a.Id, a.Axis, 2, a.Text, a.Title) with { ChunkCount = 1, ChunkStart = 3, ChunkLength = 9 },
            Record(a.Id, a.Axis, 2, a.Text, a.Title, Previous) with { ChunkCount = 1, ChunkStart = 40, ChunkLength = 5 },
            Record(b.Id, b.Axis, 2, b.Text, model: Previous) with { ChunkCount = 1, ChunkStart = 20, ChunkLength = 4 },
            Record("x", 0, 1, "Only the previous model has embedded this one", model: Previous) with { ChunkCount = 1, ChunkStart = 7, ChunkLength = 11 },
        ], Ct);
        HybridVectorList[] lists = [Vector(0, SearchPath.Exact), new HybridVectorList(_table, Previous, Axis(0)) { Path = SearchPath.Exact }];

        var hits = await _search.HybridSearchAsync(lists, text: null, lexical: null, new HybridSearchOptions { K = 10, EntityType = Type }, cancellationToken: Ct);

        var both = Assert.Single(hits, h => h.EntityId == a.Id);
        Assert.Equal((1, 1, 0, 3, 9), (both.VectorRank, both.FallbackRank, both.Chunk, both.ChunkStart, both.ChunkLength));
        var activeWithoutSpan = Assert.Single(hits, h => h.EntityId == b.Id);
        Assert.NotNull(activeWithoutSpan.FallbackRank);
        Assert.Equal(((int?)null, (int?)null), (activeWithoutSpan.ChunkStart, activeWithoutSpan.ChunkLength));
        var previousOnly = Assert.Single(hits, h => h.EntityId == "x");
        Assert.Null(previousOnly.VectorRank);
        Assert.NotNull(previousOnly.FallbackRank);
        Assert.Equal(((int?)7, (int?)11), (previousOnly.ChunkStart, previousOnly.ChunkLength));
    }

    [Fact]
    public async Task HybridSearchAsync_EntityIdFilter_AppliesToBothLists()
    {
        var hits = await SearchAsync("libzstd1 or shoes", axis: 0, options: new HybridSearchOptions { K = 10, EntityType = Type, EntityIds = ["c", "d"] });

        Assert.Equal(["c", "d"], hits.Select(h => h.EntityId).Order(StringComparer.Ordinal));
        Assert.Equal(1, hits.Single(h => h.EntityId == "c").LexicalRank);
    }

    [Fact]
    public async Task HybridSearchAsync_OtherEntityType_IsNotFoundByEitherList()
    {
        await _storage.UpsertAsync([new EmbeddingRecord(new EmbeddingTaskKey("other", "z", Model), Axis(2), [1], 1) { Lexical = new LexicalDocument("shoes", null) }], Ct);

        var hits = await SearchAsync("shoes", axis: 2, options: new HybridSearchOptions { K = 10, EntityType = Type });

        Assert.DoesNotContain(hits, h => h.EntityId == "z");
        Assert.All(hits, h => Assert.Equal(Type, h.EntityType));
    }

    [Fact]
    public async Task HybridSearchAsync_WithSettingsAndFilters_IsOneRoundTrip()
    {
        var counter = new CommandCounter();
        var builder = new NpgsqlDataSourceBuilder(DataSource.ConnectionString);
        builder.UseVector();
        builder.UseLoggerFactory(counter);
        await using var dataSource = builder.Build();
        var search = new PgvectorSearch(dataSource);
        await using (var warm = await dataSource.OpenConnectionAsync(Ct))
        {
            // The pool's first physical open loads types; count from a warm pool.
        }

        counter.Reset();
        var hits = await search.HybridSearchAsync(
            [Vector(2, SearchPath.TwoStage)], "shoes", new LexicalIndex(dataSource, Schema),
            new HybridSearchOptions { K = 3, EntityType = Type, EntityIds = ["a", "c", "e"] }, cancellationToken: Ct);

        Assert.Equal("c", hits[0].EntityId);
        Assert.Equal(1, counter.Executions);
    }

    [Fact]
    public async Task Storage_OlderGenerationAndDelete_KeepTheLexicalDocumentInStepWithTheVector()
    {
        await _storage.UpsertAsync([Record("a", 0, 5, "apricot jam")], Ct);
        await _storage.UpsertAsync([Record("a", 0, 3, "stale banana")], Ct); // older generation: refused on both sides

        Assert.Equal(["a"], (await SearchAsync("apricot", axis: 7)).Where(h => h.LexicalRank is not null).Select(h => h.EntityId));
        Assert.DoesNotContain(await SearchAsync("banana", axis: 7), h => h.LexicalRank is not null);
        Assert.True((await _storage.GetStatesAsync(Type, Model, ["a"], Ct))["a"].HasLexical);

        await _storage.DeleteAsync([(new EmbeddingTaskKey(Type, "a", Model), 4)], Ct); // older than the document: kept
        Assert.Equal(5L, await ScalarAsync<long>("SELECT generation FROM {s}.embeddingkit_lexical_documents WHERE entity_id = 'a'"));
        await _storage.DeleteAsync([(new EmbeddingTaskKey(Type, "a", Model), 6)], Ct);

        Assert.DoesNotContain(await SearchAsync("apricot", axis: 7), h => h.EntityId == "a");
        Assert.Equal(0L, await ScalarAsync<long>("SELECT count(*) FROM {s}.embeddingkit_lexical_documents WHERE entity_id = 'a'"));
        Assert.Equal(4L, await _lexical.CountAsync(Type, Ct));
    }

    [Fact]
    public async Task Storage_CopyPath_WritesTheLexicalDocumentsToo()
    {
        var storage = new PgvectorEmbeddingStorage(DataSource, _ => _table) { LexicalSchema = Schema, CopyThreshold = 2 };

        await storage.UpsertAsync([Record("x1", 6, 2, "quokka island"), Record("x2", 7, 2, "wombat burrow")], Ct);

        Assert.Equal("x2", (await _search.HybridSearchAsync([], "wombat", _lexical, new HybridSearchOptions { EntityType = Type }, cancellationToken: Ct)).Single().EntityId);
    }

    [Fact]
    public async Task WriteLexicalAsync_UnchangedVectorWithoutDocument_AddsIt()
    {
        await ExecuteAsync("DELETE FROM {s}.embeddingkit_lexical_documents WHERE entity_id = 'd'");
        Assert.False((await _storage.GetStatesAsync(Type, Model, ["d"], Ct))["d"].HasLexical);

        await _storage.WriteLexicalAsync([(new EmbeddingTaskKey(Type, "d", Model), 2, new LexicalDocument("Gardening tools", null))], Ct);

        Assert.True((await _storage.GetStatesAsync(Type, Model, ["d"], Ct))["d"].HasLexical);
        Assert.Equal("d", (await _search.HybridSearchAsync([], "gardening", _lexical, new HybridSearchOptions { EntityType = Type }, cancellationToken: Ct)).Single().EntityId);
    }

    [Fact]
    public async Task SetConfigurationAsync_Simple_KeepsWordsUnstemmedForNewDocumentsAndQueries()
    {
        Assert.Equal("english", await _lexical.GetConfigurationAsync(Type, Ct));
        await _lexical.SetConfigurationAsync(Type, "simple", Ct);
        await _storage.UpsertAsync([Record("s", 5, 2, "running")], Ct);

        Assert.Equal("simple", await _lexical.GetConfigurationAsync(Type, Ct));
        Assert.Equal("'running':1B", await ScalarAsync<string>("SELECT document::text FROM {s}.embeddingkit_lexical_documents WHERE entity_id = 's'"));
        Assert.DoesNotContain(await _search.HybridSearchAsync([], "run", _lexical, new HybridSearchOptions { EntityType = Type }, cancellationToken: Ct), h => h.EntityId == "s");
        await Assert.ThrowsAsync<ArgumentException>(async () => await _lexical.SetConfigurationAsync(Type, "klingon", Ct));
        await Assert.ThrowsAsync<ArgumentException>(async () => await _lexical.SetConfigurationAsync(Type, "simple\"; DROP TABLE x; --", Ct));
    }

    [Fact]
    public async Task HybridSettings_SavedThenRead_RoundTrip()
    {
        Assert.Null(await _lexical.GetHybridSettingsAsync(Type, Ct));
        var settings = new HybridSettings(20, 1.0, 0.5, 80, 30) { Mrr = 0.42 };

        await _lexical.SaveHybridSettingsAsync(Type, settings, Ct);

        Assert.Equal(settings, await _lexical.GetHybridSettingsAsync(Type, Ct));
        Assert.Throws<ArgumentOutOfRangeException>(() => new HybridSettings(60, -1, 1, 40, 40).Validate());
    }

    /// <summary>Counts the commands Npgsql executes (one log entry per command or batch execution).</summary>
    private sealed class CommandCounter : ILoggerFactory, ILogger
    {
        private int _executions;

        public int Executions => Volatile.Read(ref _executions);

        public void Reset() => Interlocked.Exchange(ref _executions, 0);

        public ILogger CreateLogger(string categoryName) => this;

        public void AddProvider(ILoggerProvider provider)
        {
        }

        public void Dispose()
        {
        }

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var message = formatter(state, exception);
            if (message.Contains("execution completed", StringComparison.OrdinalIgnoreCase))
            {
                Interlocked.Increment(ref _executions);
            }
        }
    }
}
