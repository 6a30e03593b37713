using EmbeddingKit.Postgres.Storage;
using EmbeddingKit.Storage;
using EmbeddingKit.Tasks;
using EmbeddingKit.TestInfrastructure.Postgres;

namespace EmbeddingKit.Postgres.Tests.Storage;

public sealed class PgvectorEmbeddingStorageTests(PostgresServer server) : SchemaTest(server)
{
    private const string Model = "model-a";
    private const string WideModel = "model-wide";
    private const int Dimensions = 4;
    private EmbeddingTable _table = null!;
    private EmbeddingTable _wideTable = null!;
    private PgvectorEmbeddingStorage _storage = null!;

    public override async ValueTask InitializeAsync()
    {
        await base.InitializeAsync();
        _table = new EmbeddingTable(Schema, Dimensions);
        _wideTable = new EmbeddingTable(Schema, 6);
        var manager = new EmbeddingIndexManager(DataSource);
        await manager.EnsureTableAsync(_table, Ct);
        await manager.EnsureTableAsync(_wideTable, Ct);
        _storage = Create();
    }

    private PgvectorEmbeddingStorage Create(int copyThreshold = PgvectorEmbeddingStorage.DefaultCopyThreshold) =>
        new(DataSource, model => model == WideModel ? _wideTable : model.StartsWith("model", StringComparison.Ordinal) || model.Contains('\'', StringComparison.Ordinal) ? _table : null)
        {
            CopyThreshold = copyThreshold,
        };

    private static EmbeddingRecord Record(string id, long generation, float first = 1, string model = Model, string type = "doc", int dimensions = Dimensions)
    {
        var vector = new Half[dimensions];
        vector[0] = (Half)first;
        return new EmbeddingRecord(new EmbeddingTaskKey(type, id, model), vector, ContentHash.Compute(model, id + "@" + generation), generation);
    }

    private async Task<Half> StoredFirstAsync(string id) =>
        (Half)await ScalarAsync<float>($"SELECT (embedding::real[])[1] FROM {_table.QualifiedName} WHERE entity_id = '{id}' AND model = '{Model}'");

    [Fact]
    public async Task GetStatesAsync_TableNeverAnalyzed_PlansOnePrimaryKeyLookupPerId()
    {
        // A new model's table fills up long before autovacuum analyzes it. Without statistics, `entity_id = ANY($3)`
        // was planned as a scan of every row of the model with the ids as a filter.
        await ExecuteAsync($"ALTER TABLE {_table.QualifiedName} SET (autovacuum_enabled = false)");
        await ExecuteAsync($"""
            INSERT INTO {_table.QualifiedName} (entity_type, entity_id, model, embedding, content_hash, generation)
            SELECT 'doc', i::text, '{Model}', '[1,0,0,0]', '\x00', 1 FROM generate_series(1, 20000) AS i
            """);
        var ids = Enumerable.Range(19_000, 64).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray();

        await using var explain = DataSource.CreateCommand("EXPLAIN " + _storage.GetStatesSql(_table));
        explain.Parameters.Add(new Npgsql.NpgsqlParameter<string> { TypedValue = "doc" });
        explain.Parameters.Add(new Npgsql.NpgsqlParameter<string> { TypedValue = Model });
        explain.Parameters.Add(new Npgsql.NpgsqlParameter<string[]> { TypedValue = ids });
        var plan = await ReadPlanAsync(explain);
        var states = await _storage.GetStatesAsync("doc", Model, ids, Ct);

        Assert.Equal(0L, await ScalarAsync<long>($"SELECT coalesce(analyze_count + autoanalyze_count, 0) FROM pg_stat_user_tables WHERE relid = '{_table.QualifiedName}'::regclass"));
        Assert.DoesNotContain("Bitmap", plan, StringComparison.Ordinal);
        Assert.Contains("Index Scan", plan, StringComparison.Ordinal);
        Assert.Contains("entity_id = i.entity_id", plan, StringComparison.Ordinal);
        Assert.Equal(64, states.Count);
    }

    private static async Task<string> ReadPlanAsync(Npgsql.NpgsqlCommand command)
    {
        var lines = new List<string>();
        await using var reader = await command.ExecuteReaderAsync(Ct);
        while (await reader.ReadAsync(Ct))
        {
            lines.Add(reader.GetString(0));
        }

        return string.Join('\n', lines);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(1000)]
    public async Task UpsertAsync_NewRecords_GetStatesReturnsHashAndGeneration(int copyThreshold)
    {
        var storage = Create(copyThreshold);
        var written = await storage.UpsertAsync([Record("1", 5), Record("2", 7)], Ct);

        var states = await storage.GetStatesAsync("doc", Model, ["1", "2", "3"], Ct);

        Assert.Equal(2, written);
        Assert.Equal(2, states.Count);
        Assert.Equal(ContentHash.Compute(Model, "1@5"), states["1"].ContentHash);
        Assert.Equal(7L, states["2"].Generation);
        Assert.False(states.ContainsKey("3"));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(1000)]
    public async Task UpsertAsync_OlderGeneration_NeverOverwritesNewer(int copyThreshold)
    {
        var storage = Create(copyThreshold);
        await storage.UpsertAsync([Record("1", 10, first: 1)], Ct);

        var written = await storage.UpsertAsync([Record("1", 9, first: -1)], Ct);

        Assert.Equal(0, written);
        Assert.Equal((Half)1, await StoredFirstAsync("1"));
        Assert.Equal(10L, (await storage.GetStatesAsync("doc", Model, ["1"], Ct))["1"].Generation);
    }

    [Theory]
    [InlineData(1, 10)]
    [InlineData(1, 11)]
    [InlineData(1000, 10)]
    [InlineData(1000, 11)]
    public async Task UpsertAsync_EqualOrNewerGeneration_Overwrites(int copyThreshold, long generation)
    {
        var storage = Create(copyThreshold);
        await storage.UpsertAsync([Record("1", 10, first: 1)], Ct);

        var written = await storage.UpsertAsync([Record("1", generation, first: -1)], Ct);

        Assert.Equal(1, written);
        Assert.Equal((Half)(-1), await StoredFirstAsync("1"));
        Assert.Equal(ContentHash.Compute(Model, "1@" + generation), (await storage.GetStatesAsync("doc", Model, ["1"], Ct))["1"].ContentHash);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(1000)]
    public async Task UpsertAsync_SameKeyTwiceInOneBatch_KeepsTheNewestGeneration(int copyThreshold)
    {
        var storage = Create(copyThreshold);

        var written = await storage.UpsertAsync([Record("1", 3, first: 3), Record("1", 8, first: 8), Record("1", 5, first: 5)], Ct);

        Assert.Equal(1, written);
        Assert.Equal((Half)8, await StoredFirstAsync("1"));
    }

    [Fact]
    public async Task UpsertAsync_TwoTablesAndBothPaths_WritesEverythingInOneCall()
    {
        var storage = Create(copyThreshold: 3);
        var records = Enumerable.Range(0, 5).Select(i => Record($"n{i}", 1)).ToList();
        records.Add(Record("w", 1, model: WideModel, dimensions: 6));

        var written = await storage.UpsertAsync(records, Ct);

        Assert.Equal(6, written);
        Assert.Equal(5L, await storage.CountAsync("doc", Model, Ct));
        Assert.Equal(1L, await storage.CountAsync("doc", WideModel, Ct));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(1000)]
    public async Task UpsertAsync_WrongDimensions_ThrowsNamingTheKeyAndWritesNothing(int copyThreshold)
    {
        var storage = Create(copyThreshold);

        var error = await Assert.ThrowsAsync<InvalidVectorException>(async () =>
            await storage.UpsertAsync([Record("ok", 1), Record("bad-one", 1, dimensions: 5)], Ct));

        Assert.Contains("(doc, bad-one, model-a)", error.Message, StringComparison.Ordinal);
        Assert.Contains("5 dimensions", error.Message, StringComparison.Ordinal);
        Assert.Contains("halfvec(4)", error.Message, StringComparison.Ordinal);
        Assert.Equal(0L, await storage.CountAsync("doc", Model, Ct));
    }

    [Theory]
    [InlineData(float.PositiveInfinity)]
    [InlineData(float.NaN)]
    [InlineData(70000f)] // beyond fp16's 65,504: the conversion gives infinity
    public async Task UpsertAsync_NonFiniteValue_ThrowsAndWritesNothing(float value)
    {
        var error = await Assert.ThrowsAsync<InvalidVectorException>(async () => await _storage.UpsertAsync([Record("x", 1, first: value)], Ct));

        Assert.Contains("(doc, x, model-a)", error.Message, StringComparison.Ordinal);
        Assert.Equal(0L, await _storage.CountAsync("doc", Model, Ct));
    }

    [Fact]
    public async Task UpsertAsync_UnknownModel_ThrowsArgumentException()
    {
        var error = await Assert.ThrowsAsync<ArgumentException>(async () => await _storage.UpsertAsync([Record("x", 1, model: "unknown")], Ct));

        Assert.Contains("'unknown'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TouchAsync_MixedGenerations_RaisesOnlyOlderStoredGenerationsAndKeepsContent()
    {
        await _storage.UpsertAsync([Record("1", 5, first: 2), Record("2", 9)], Ct);

        var touched = await _storage.TouchAsync([(new EmbeddingTaskKey("doc", "1", Model), 7), (new EmbeddingTaskKey("doc", "1", Model), 6), (new EmbeddingTaskKey("doc", "2", Model), 8), (new EmbeddingTaskKey("doc", "3", Model), 8)], Ct);

        var states = await _storage.GetStatesAsync("doc", Model, ["1", "2"], Ct);
        Assert.Equal(1, touched);
        Assert.Equal(7L, states["1"].Generation);
        Assert.Equal(ContentHash.Compute(Model, "1@5"), states["1"].ContentHash);
        Assert.Equal((Half)2, await StoredFirstAsync("1"));
        Assert.Equal(9L, states["2"].Generation);
    }

    [Fact]
    public async Task TouchAsync_ThenOlderUpsert_IsRefused()
    {
        await _storage.UpsertAsync([Record("1", 5, first: 2)], Ct);
        await _storage.TouchAsync([(new EmbeddingTaskKey("doc", "1", Model), 7)], Ct);

        Assert.Equal(0, await _storage.UpsertAsync([Record("1", 6, first: -2)], Ct));
        Assert.Equal((Half)2, await StoredFirstAsync("1"));
    }

    [Fact]
    public async Task DeleteAsync_MixedGenerations_DeletesUnlessStoredIsNewer()
    {
        await _storage.UpsertAsync([Record("older", 5), Record("equal", 5), Record("newer", 9), Record("w", 1, model: WideModel, dimensions: 6)], Ct);

        var deleted = await _storage.DeleteAsync(
            [(new EmbeddingTaskKey("doc", "older", Model), 6), (new EmbeddingTaskKey("doc", "equal", Model), 5),
             (new EmbeddingTaskKey("doc", "newer", Model), 8), (new EmbeddingTaskKey("doc", "w", WideModel), 1)], Ct);

        Assert.Equal(3, deleted);
        Assert.Equal(["newer"], (await _storage.GetStatesAsync("doc", Model, ["older", "equal", "newer"], Ct)).Keys);
        Assert.Equal(0L, await _storage.CountAsync("doc", WideModel, Ct));
    }

    [Fact]
    public async Task CountAndListEntityIds_ManyRows_CountsByTypeAndModelAndPagesInOrder()
    {
        await _storage.UpsertAsync([.. Enumerable.Range(0, 25).Select(i => Record($"id{i:D2}", 1)), Record("other", 1, type: "user"), Record("b", 1, model: "model-b")], Ct);

        var pages = new List<IReadOnlyList<string>>();
        string? after = null;
        while (true)
        {
            var page = await _storage.ListEntityIdsAsync("doc", Model, after, 10, Ct);
            if (page.Count == 0)
            {
                break;
            }

            pages.Add(page);
            after = page[^1];
        }

        Assert.Equal(25L, await _storage.CountAsync("doc", Model, Ct));
        Assert.Equal(1L, await _storage.CountAsync("user", Model, Ct));
        Assert.Equal([10, 10, 5], pages.Select(p => p.Count));
        Assert.Equal(Enumerable.Range(0, 25).Select(i => $"id{i:D2}"), pages.SelectMany(p => p));
    }

    [Fact]
    public async Task DeleteModelAsync_TwoModelsInOneTable_DeletesOnlyThatModel()
    {
        await _storage.UpsertAsync([Record("1", 1), Record("2", 1), Record("1", 1, model: "model-b")], Ct);

        var deleted = await _storage.DeleteModelAsync(Model, Ct);

        Assert.Equal(2, deleted);
        Assert.Equal(1L, await _storage.CountAsync("doc", "model-b", Ct));
    }

    [Fact]
    public async Task UpsertAsync_ModelNameWithSql_IsStoredAsData()
    {
        const string model = "x'); drop table y; --";
        await ExecuteAsync("CREATE TABLE {s}.y (id int)");

        await _storage.UpsertAsync([Record("1", 1, model: model)], Ct);

        Assert.Equal(1L, await _storage.CountAsync("doc", model, Ct));
        Assert.Single(await _storage.GetStatesAsync("doc", model, ["1"], Ct));
        Assert.Equal(1, await _storage.DeleteAsync([(new EmbeddingTaskKey("doc", "1", model), 1)], Ct));
        Assert.Equal(0L, await ScalarAsync<long>("SELECT count(*) FROM {s}.y"));
    }
}
