using EmbeddingKit.TestInfrastructure.Vectors;
using System.Globalization;
using EmbeddingKit.Postgres.Search;
using EmbeddingKit.Postgres.Storage;
using EmbeddingKit.Storage;
using EmbeddingKit.Tasks;
using EmbeddingKit.TestInfrastructure.Postgres;
using Npgsql;
using Pgvector;

namespace EmbeddingKit.Postgres.Tests.Search;

public sealed class PgvectorSearchTests(PostgresServer server) : SchemaTest(server)
{
    private const string Model = "BAAI/bge-m3";
    private const int Dimensions = 64;
    private const int Rows = 2000;
    private EmbeddingTable _table = null!;
    private PgvectorEmbeddingStorage _storage = null!;
    private PgvectorSearch _search = null!;
    private ClusteredVectors _vectors = null!;
    private Half[] _planted = null!;

    public override async ValueTask InitializeAsync()
    {
        await base.InitializeAsync();
        _table = new EmbeddingTable(Schema, Dimensions);
        _storage = new PgvectorEmbeddingStorage(DataSource, _ => _table);
        _search = new PgvectorSearch(DataSource);
        _vectors = new ClusteredVectors(Dimensions, 20, seed: 7);
        _planted = _vectors.Outlier();
        await LoadAsync(_table, Model);
    }

    // Rows of entity type "doc", every 33rd of type "rare", and one planted outlier; indexes built after loading.
    private async Task LoadAsync(EmbeddingTable table, string model)
    {
        var manager = new EmbeddingIndexManager(DataSource);
        await manager.EnsureTableAsync(table, Ct);
        var records = Enumerable.Range(0, Rows)
            .Select(i => new EmbeddingRecord(new EmbeddingTaskKey(i % 33 == 0 ? "rare" : "doc", Id(i), model), _vectors.Next(), [1], 1))
            .Append(new EmbeddingRecord(new EmbeddingTaskKey("doc", "planted", model), _planted, [1], 1))
            .ToList();
        await new PgvectorEmbeddingStorage(DataSource, _ => table).UpsertAsync(records, Ct);
        await manager.EnsureModelIndexesAsync(table, model, Ct);
        await ExecuteAsync($"ANALYZE {table.QualifiedName}");
    }

    private static string Id(int i) => i.ToString(CultureInfo.InvariantCulture);

    // A transaction in which the planner avoids sequential scans whenever an index can answer (tests only).
    private async Task<(NpgsqlConnection, NpgsqlTransaction)> IndexOnlyTransactionAsync()
    {
        var connection = await DataSource.OpenConnectionAsync(Ct);
        var transaction = await connection.BeginTransactionAsync(Ct);
        await using var command = new NpgsqlCommand("SET LOCAL enable_seqscan = off", connection, transaction);
        await command.ExecuteNonQueryAsync(Ct);
        return (connection, transaction);
    }

    [Fact]
    public async Task SearchAsync_PlantedVector_AllThreePathsAgreeOnTopOne()
    {
        foreach (var path in new[] { SearchPath.TwoStage, SearchPath.Hnsw, SearchPath.Exact })
        {
            var result = await _search.SearchAsync(_table, Model, _planted, new VectorSearchOptions { Path = path }, cancellationToken: Ct);

            Assert.Equal(path, result.Path);
            Assert.Equal(Model, result.Model);
            Assert.Equal(10, result.Hits.Count);
            Assert.Equal("planted", result.Hits[0].EntityId);
            Assert.Equal(1.0, result.Hits[0].Score, 2);
            Assert.Equal(result.Hits.OrderByDescending(h => h.Score).Select(h => h.EntityId), result.Hits.Select(h => h.EntityId));
        }
    }

    [Fact]
    public async Task SearchAsync_HalfVectorQueryAndCosineTable_FindsThePlantedVector()
    {
        var cosine = new EmbeddingTable(Schema, Dimensions, "cosine_embeddings") { OperatorClass = HalfvecOperatorClass.Cosine };
        await LoadAsync(cosine, Model);

        var result = await _search.SearchAsync(cosine, Model, new HalfVector(_planted), new VectorSearchOptions { Path = SearchPath.Hnsw }, cancellationToken: Ct);

        Assert.Equal("planted", result.Hits[0].EntityId);
        Assert.Equal(1.0, result.Hits[0].Score, 2);
    }

    [Fact]
    public async Task SearchAsync_RowsNeededAboveDefaultEfSearch_ReturnsThemAll()
    {
        var (connection, transaction) = await IndexOnlyTransactionAsync();
        await using var _ = connection;
        var query = _vectors.Next();

        // The trap: with the default hnsw.ef_search (40) an HNSW scan yields at most 40 rows, whatever the LIMIT.
        await using var control = new NpgsqlCommand(
            $"SELECT count(*) FROM (SELECT 1 FROM {_table.QualifiedName} WHERE model = 'BAAI/bge-m3' ORDER BY {_table.BinaryQuantizedExpression} <~> binary_quantize($1::halfvec(64))::bit(64) LIMIT 100) c",
            connection, transaction);
        control.Parameters.Add(new NpgsqlParameter<HalfVector> { TypedValue = new HalfVector(query) });
        var capped = (long)(await control.ExecuteScalarAsync(Ct))!;

        // Stage 1 must hand 100 candidates (k = 100 × oversample 1) to stage 2 for 100 results to come back.
        var twoStage = await _search.SearchAsync(_table, Model, query, new VectorSearchOptions { K = 100, Oversample = 1 }, transaction, Ct);
        var stageOne = await _search.SearchAsync(_table, Model, query, new VectorSearchOptions { K = 10, Oversample = 8 }, transaction, Ct);
        var hnsw = await _search.SearchAsync(_table, Model, query, new VectorSearchOptions { K = 150, Path = SearchPath.Hnsw }, transaction, Ct);
        var plan = await _search.ExplainAsync(_table, Model, query, new VectorSearchOptions { K = 100, Oversample = 1 }, transaction, Ct);

        Assert.True(capped <= 40, $"the control query returned {capped} rows");
        Assert.Contains(_table.BinaryQuantizedIndexName(Model), plan, StringComparison.Ordinal);
        Assert.Equal(100, twoStage.Hits.Count);
        Assert.Equal(10, stageOne.Hits.Count);
        Assert.Equal(150, hnsw.Hits.Count);
    }

    [Fact]
    public async Task ExplainAsync_ModelAsLiteral_UsesThePartialIndexesThatAGenericPlanCannot()
    {
        var (connection, transaction) = await IndexOnlyTransactionAsync();
        await using var _ = connection;
        var query = _vectors.Next();
        var hnswIndex = _table.HnswIndexName(Model);
        var bqIndex = _table.BinaryQuantizedIndexName(Model);

        var twoStage = await _search.ExplainAsync(_table, Model, query, new VectorSearchOptions(), transaction, Ct);
        var hnsw = await _search.ExplainAsync(_table, Model, query, new VectorSearchOptions { Path = SearchPath.Hnsw }, transaction, Ct);
        var exact = await _search.ExplainAsync(_table, Model, query, new VectorSearchOptions { Path = SearchPath.Exact }, transaction, Ct);

        // The trap: the same query with model = $2, as a prepared statement gets it, in a generic plan.
        await using (var prepare = new NpgsqlCommand(
            $"PREPARE by_param(halfvec, text) AS SELECT entity_id FROM {_table.QualifiedName} WHERE model = $2 ORDER BY embedding <#> $1::halfvec(64) LIMIT 10; " +
            "SET LOCAL plan_cache_mode = force_generic_plan", connection, transaction))
        {
            await prepare.ExecuteNonQueryAsync(Ct);
        }

        await using var explainGeneric = new NpgsqlCommand($"EXPLAIN EXECUTE by_param('{new HalfVector(query)}', 'BAAI/bge-m3')", connection, transaction);
        var generic = string.Join('\n', await ReadAllAsync(explainGeneric));

        Assert.Contains(bqIndex, twoStage, StringComparison.Ordinal);
        Assert.Contains(hnswIndex, hnsw, StringComparison.Ordinal);
        Assert.DoesNotContain(hnswIndex, exact, StringComparison.Ordinal);
        Assert.DoesNotContain(bqIndex, exact, StringComparison.Ordinal);
        Assert.DoesNotContain(hnswIndex, generic, StringComparison.Ordinal);
        Assert.Contains("model = $2", generic, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SearchAsync_RareEntityTypeFilter_IterativeScanStillFillsK()
    {
        var (connection, transaction) = await IndexOnlyTransactionAsync();
        await using var _ = connection;
        var query = _vectors.Next();
        var options = new VectorSearchOptions { K = 10, Path = SearchPath.Hnsw, EntityType = "rare" };

        // Keep the planner on the HNSW index (the primary key could serve entity_type = 'rare' then sort).
        await using (var noSort = new NpgsqlCommand("SET LOCAL enable_sort = off", connection, transaction))
        {
            await noSort.ExecuteNonQueryAsync(Ct);
        }

        // The trap: without iterative scans, HNSW yields ef_search (40) nearest rows and the filter keeps the few rare ones.
        await using var control = new NpgsqlCommand(
            $"SELECT count(*) FROM (SELECT 1 FROM {_table.QualifiedName} WHERE model = 'BAAI/bge-m3' AND entity_type = 'rare' ORDER BY embedding <#> $1::halfvec(64) LIMIT 10) c",
            connection, transaction);
        control.Parameters.Add(new NpgsqlParameter<HalfVector> { TypedValue = new HalfVector(query) });
        var starved = (long)(await control.ExecuteScalarAsync(Ct))!;

        var plan = await _search.ExplainAsync(_table, Model, query, options, transaction, Ct);
        var hnsw = await _search.SearchAsync(_table, Model, query, options, transaction, Ct);
        var twoStage = await _search.SearchAsync(_table, Model, query, new VectorSearchOptions { K = 10, Oversample = 2, EntityType = "rare" }, transaction, Ct);
        var exact = await _search.SearchAsync(_table, Model, query, new VectorSearchOptions { K = 10, Path = SearchPath.Exact, EntityType = "rare" }, transaction, Ct);

        Assert.True(starved < 10, $"the control query returned {starved} rows");
        Assert.Contains(_table.HnswIndexName(Model), plan, StringComparison.Ordinal);
        Assert.Equal(10, hnsw.Hits.Count);
        Assert.Equal(10, twoStage.Hits.Count);
        Assert.All(hnsw.Hits.Concat(twoStage.Hits), h => Assert.Equal("rare", h.EntityType));
        Assert.Equal(exact.Hits[0].EntityId, hnsw.Hits[0].EntityId);
    }

    // hnsw.max_scan_tuples (20,000 by default) bounds an iterative scan: a filter that keeps few rows of a large model
    // stops it before k rows pass. Lowered to 100 here, the 2,061 rows stand in for a model 200 times larger.
    [Theory]
    [InlineData(SearchPath.Hnsw, false)]
    [InlineData(SearchPath.TwoStage, false)]
    [InlineData(SearchPath.Hnsw, true)]
    [InlineData(SearchPath.TwoStage, true)]
    public async Task SearchAsync_SelectiveFilterBeyondMaxScanTuples_AnswersExactlyAndSaysSo(SearchPath path, bool byIds)
    {
        var (connection, transaction) = await IndexOnlyTransactionAsync();
        await using var _ = connection;
        // Keep the planner on the vector indexes (the primary key could serve the filter, then sort).
        await using (var limit = new NpgsqlCommand("SET LOCAL hnsw.max_scan_tuples = 100; SET LOCAL enable_sort = off", connection, transaction))
        {
            await limit.ExecuteNonQueryAsync(Ct);
        }

        var query = _vectors.Next();
        string[]? ids = byIds ? [.. Enumerable.Range(0, 40).Select(i => Id(i * 50 + 1))] : null;
        var type = byIds ? "doc" : "rare";
        var options = new VectorSearchOptions { K = 10, Path = path, Oversample = 2, EntityType = type, EntityIds = ids };

        var result = await _search.SearchAsync(_table, Model, query, options, transaction, Ct);
        var exact = await _search.SearchAsync(_table, Model, query, new VectorSearchOptions { K = 10, Path = SearchPath.Exact, EntityType = type, EntityIds = ids }, transaction, Ct);

        Assert.Equal(10, exact.Hits.Count);
        Assert.Equal(exact.Hits.Select(h => h.EntityId), result.Hits.Select(h => h.EntityId));
        Assert.Equal(SearchPath.Exact, result.Path);
        Assert.Equal(SearchPath.Exact, exact.Path);
    }

    [Fact]
    public async Task SearchAsync_FilterKeepingMostRows_StaysOnTheIndex()
    {
        var result = await _search.SearchAsync(_table, Model, _planted, new VectorSearchOptions { K = 10, Path = SearchPath.Hnsw, EntityType = "doc" }, cancellationToken: Ct);

        Assert.Equal(SearchPath.Hnsw, result.Path);
        Assert.Equal("planted", result.Hits[0].EntityId);
        Assert.Equal(10, result.Hits.Count);
    }

    [Fact]
    public async Task SearchAsync_EntityIdAllowList_ReturnsOnlyThoseIds()
    {
        string[] allowed = ["3", "30", "300", "planted", "1999"];

        var result = await _search.SearchAsync(_table, Model, _planted, new VectorSearchOptions { K = 10, EntityType = "doc", EntityIds = allowed }, cancellationToken: Ct);

        Assert.Equal("planted", result.Hits[0].EntityId);
        Assert.Equal(allowed.Order(StringComparer.Ordinal), result.Hits.Select(h => h.EntityId).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task SearchAsync_ModelNameWithSql_IsALiteralAndFindsItsRows()
    {
        const string model = "x'); drop table y; --";
        await ExecuteAsync("CREATE TABLE {s}.y (id int)");
        await LoadAsync(_table, model);

        var result = await _search.SearchAsync(_table, model, _planted, new VectorSearchOptions(), cancellationToken: Ct);

        Assert.Equal("planted", result.Hits[0].EntityId);
        Assert.Contains("model = 'x''); drop table y; --'", _search.GetSql(_table, model, new VectorSearchOptions()), StringComparison.Ordinal);
        Assert.Equal(0L, await ScalarAsync<long>("SELECT count(*) FROM {s}.y"));
    }

    [Fact]
    public async Task SearchAsync_WrongQueryLength_ThrowsInvalidVector()
    {
        await Assert.ThrowsAsync<InvalidVectorException>(async () => await _search.SearchAsync(_table, Model, new Half[3], cancellationToken: Ct));
        await Assert.ThrowsAsync<InvalidVectorException>(async () => await _search.SearchAsync(_table, Model, Enumerable.Repeat(Half.PositiveInfinity, Dimensions).ToArray(), cancellationToken: Ct));
    }

    [Theory]
    [InlineData(0, 8, 40)]
    [InlineData(1001, 8, 40)]
    [InlineData(10, 0, 40)]
    [InlineData(10, 8, 1001)]
    [InlineData(200, 100, 40)]
    public async Task SearchAsync_OptionsOutOfRange_Throw(int k, int oversample, int efSearch) =>
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () =>
            await _search.SearchAsync(_table, Model, _planted, new VectorSearchOptions { K = k, Oversample = oversample, EfSearch = efSearch }, cancellationToken: Ct));

    private static async Task<List<string>> ReadAllAsync(NpgsqlCommand command)
    {
        var lines = new List<string>();
        await using var reader = await command.ExecuteReaderAsync(Ct);
        while (await reader.ReadAsync(Ct))
        {
            lines.Add(reader.GetString(0));
        }

        return lines;
    }
}
