using EmbeddingKit.TestInfrastructure.Vectors;
using EmbeddingKit.Postgres.Search;
using EmbeddingKit.Postgres.Storage;
using EmbeddingKit.Postgres.Tests.Search;
using EmbeddingKit.Storage;
using EmbeddingKit.Tasks;
using EmbeddingKit.TestInfrastructure.Postgres;

namespace EmbeddingKit.Postgres.Tests.Storage;

public sealed class EmbeddingIndexManagerTests(PostgresServer server) : SchemaTest(server)
{
    private EmbeddingIndexManager _manager = null!;

    public override async ValueTask InitializeAsync()
    {
        await base.InitializeAsync();
        _manager = new EmbeddingIndexManager(DataSource);
    }

    private async Task<PgvectorEmbeddingStorage> LoadAsync(EmbeddingTable table, string model, int count, int seed = 1)
    {
        await _manager.EnsureTableAsync(table, Ct);
        var storage = new PgvectorEmbeddingStorage(DataSource, _ => table);
        var vectors = new ClusteredVectors(table.Dimensions, 10, seed);
        await storage.UpsertAsync([.. Enumerable.Range(0, count).Select(i =>
            new EmbeddingRecord(new EmbeddingTaskKey("doc", i.ToString(System.Globalization.CultureInfo.InvariantCulture), model), vectors.Next(), [1], 1))], Ct);
        return storage;
    }

    private Task<uint> IndexOidAsync(string name) => ScalarAsync<uint>($"SELECT '{{s}}.\"{name}\"'::regclass::oid");

    [Fact]
    public async Task EnsureTableAsync_CalledTwice_CreatesTheTableOnce()
    {
        var table = new EmbeddingTable(Schema, 3);

        await _manager.EnsureTableAsync(table, Ct);
        await _manager.EnsureTableAsync(table, Ct);

        Assert.Equal("halfvec(3)", await ScalarAsync<string>("SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = '{s}.embeddingkit_embeddings_3'::regclass AND attname = 'embedding'"));
    }

    [Fact]
    public async Task EnsureModelIndexesAsync_NewModel_BuildsBothValidIndexesAndReportsSizes()
    {
        var table = new EmbeddingTable(Schema, 16);
        await LoadAsync(table, "m", 200);

        var status = await _manager.EnsureModelIndexesAsync(table, "m", Ct);
        var all = await _manager.GetIndexStatusAsync(table, cancellationToken: Ct);

        Assert.Equal([EmbeddingIndexKind.Hnsw, EmbeddingIndexKind.BinaryQuantized], status.Select(s => s.Kind));
        Assert.All(status, s => Assert.True(s.Exists && s.IsValid && s.SizeBytes > 0 && s.Model == "m"));
        Assert.Equal(3, all.Count);
        Assert.Contains(all, s => s.Kind == EmbeddingIndexKind.Other && s.Name.EndsWith("_pkey", StringComparison.Ordinal));
        Assert.Contains(all, s => s.Kind == EmbeddingIndexKind.Hnsw && s.Name == table.HnswIndexName("m"));
        Assert.Contains(all, s => s.Kind == EmbeddingIndexKind.BinaryQuantized && s.Name == table.BinaryQuantizedIndexName("m"));
    }

    [Fact]
    public async Task GetIndexStatusAsync_NoIndexes_ReportsThemMissing()
    {
        var table = new EmbeddingTable(Schema, 8);
        await _manager.EnsureTableAsync(table, Ct);

        var status = await _manager.GetIndexStatusAsync(table, "m", Ct);

        Assert.Equal(2, status.Count);
        Assert.All(status, s => Assert.False(s.Exists || s.IsValid || s.SizeBytes != 0));
    }

    [Fact]
    public async Task EnsureModelIndexesAsync_InvalidIndexFromAFailedBuild_IsDroppedAndRebuilt()
    {
        var table = new EmbeddingTable(Schema, 16);
        await LoadAsync(table, "m", 100);
        await _manager.EnsureModelIndexesAsync(table, "m", Ct);
        var name = table.HnswIndexName("m");
        var before = await IndexOidAsync(name);
        // What a failed CREATE INDEX CONCURRENTLY leaves behind (as superuser, the test server's role).
        await ExecuteAsync($"UPDATE pg_index SET indisvalid = false WHERE indexrelid = '{{s}}.\"{name}\"'::regclass");
        var broken = await _manager.GetIndexStatusAsync(table, "m", Ct);

        var repaired = await _manager.EnsureModelIndexesAsync(table, "m", Ct);

        Assert.False(broken[0].IsValid);
        Assert.True(broken[0].Exists);
        Assert.True(broken[1].IsValid);
        Assert.All(repaired, s => Assert.True(s.Exists && s.IsValid));
        Assert.NotEqual(before, await IndexOidAsync(name));
    }

    [Fact]
    public async Task EnsureModelIndexesAsync_AfterAFailedConcurrentBuild_RebuildsTheInvalidIndex()
    {
        // A real failed concurrent build: the index build fails on a value its expression cannot compute.
        var table = new EmbeddingTable(Schema, 16);
        await LoadAsync(table, "m", 50);
        var name = table.HnswIndexName("m");
        await ExecuteAsync("CREATE FUNCTION {s}.boom(h halfvec) RETURNS halfvec IMMUTABLE LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'boom'; END $$");
        var failing = $"CREATE INDEX CONCURRENTLY \"{name}\" ON {table.QualifiedName} USING hnsw (({{s}}.boom(embedding)) halfvec_ip_ops) WHERE model = 'm'";
        await Assert.ThrowsAnyAsync<Npgsql.PostgresException>(() => ExecuteAsync(failing));

        var invalid = await _manager.GetIndexStatusAsync(table, "m", Ct);
        var repaired = await _manager.EnsureModelIndexesAsync(table, "m", Ct);

        Assert.True(invalid[0].Exists);
        Assert.False(invalid[0].IsValid);
        Assert.All(repaired, s => Assert.True(s.Exists && s.IsValid));
        Assert.Contains("halfvec_ip_ops", await ScalarAsync<string>($"SELECT pg_get_indexdef('{{s}}.\"{name}\"'::regclass)"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task DropModelIndexesAsync_BuiltIndexes_RemovesOnlyThatModelsIndexes()
    {
        var table = new EmbeddingTable(Schema, 16);
        await LoadAsync(table, "m", 50);
        await _manager.EnsureModelIndexesAsync(table, "m", Ct);
        await _manager.EnsureModelIndexesAsync(table, "n", Ct);

        await _manager.DropModelIndexesAsync(table, "m", Ct);

        Assert.All(await _manager.GetIndexStatusAsync(table, "m", Ct), s => Assert.False(s.Exists));
        Assert.All(await _manager.GetIndexStatusAsync(table, "n", Ct), s => Assert.True(s.Exists && s.IsValid));
    }

    [Fact]
    public async Task EnsureModelIndexesAsync_ModelNameWithSql_IsALiteralInTheIndexPredicate()
    {
        const string model = "x'); drop table y; --";
        await ExecuteAsync("CREATE TABLE {s}.y (id int)");
        var table = new EmbeddingTable(Schema, 16);
        await LoadAsync(table, model, 50);

        var status = await _manager.EnsureModelIndexesAsync(table, model, Ct);

        Assert.All(status, s => Assert.True(s.Exists && s.IsValid));
        var predicate = await ScalarAsync<string>($"SELECT pg_get_expr(indpred, indrelid) FROM pg_index WHERE indexrelid = '{{s}}.\"{status[0].Name}\"'::regclass");
        Assert.Equal("(model = 'x''); drop table y; --'::text)", predicate);
        Assert.Equal(0L, await ScalarAsync<long>("SELECT count(*) FROM {s}.y"));
    }

    [Fact]
    public async Task Table4000Dimensions_HnswIndexAndSearch_Work()
    {
        var table = new EmbeddingTable(Schema, 4000);
        var storage = await LoadAsync(table, "big", 60);
        var planted = ClusteredVectors.ToHalf(ClusteredVectors.Normalize([.. Enumerable.Range(0, 4000).Select(i => i % 7 == 0 ? 1f : 0f)]));
        await storage.UpsertAsync([new EmbeddingRecord(new EmbeddingTaskKey("doc", "planted", "big"), planted, [1], 1)], Ct);

        var status = await _manager.EnsureModelIndexesAsync(table, "big", Ct);
        var search = new PgvectorSearch(DataSource);
        var hnsw = await search.SearchAsync(table, "big", planted, new VectorSearchOptions { Path = SearchPath.Hnsw, K = 3 }, cancellationToken: Ct);
        var twoStage = await search.SearchAsync(table, "big", planted, new VectorSearchOptions { K = 3 }, cancellationToken: Ct);

        Assert.All(status, s => Assert.True(s.Exists && s.IsValid && s.SizeBytes > 0));
        Assert.Equal("planted", hnsw.Hits[0].EntityId);
        Assert.Equal("planted", twoStage.Hits[0].EntityId);
        Assert.Equal(1.0, hnsw.Hits[0].Score, 2);
    }
}
