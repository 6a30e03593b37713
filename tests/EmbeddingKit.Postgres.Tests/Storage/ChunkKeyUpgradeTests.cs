using EmbeddingKit.Postgres.Storage;
using EmbeddingKit.Storage;
using EmbeddingKit.Tasks;
using EmbeddingKit.TestInfrastructure.Postgres;

namespace EmbeddingKit.Postgres.Tests.Storage;

public sealed class ChunkKeyUpgradeTests(PostgresServer server) : SchemaTest(server)
{
    // The table as EmbeddingTable created it before the chunk key (issue 16).
    private const string OldTableSql = """
        CREATE TABLE {s}.embeddingkit_embeddings_3 (
            entity_type  text        NOT NULL,
            entity_id    text        NOT NULL,
            model        text        NOT NULL,
            embedding    halfvec(3)  NOT NULL,
            content_hash bytea       NOT NULL,
            generation   bigint      NOT NULL,
            created_at   timestamptz NOT NULL DEFAULT now(),
            updated_at   timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (entity_type, entity_id, model)
        ) WITH (fillfactor = 90);
        INSERT INTO {s}.embeddingkit_embeddings_3 (entity_type, entity_id, model, embedding, content_hash, generation)
        SELECT 'doc', i::text, 'm', '[1,0,0]'::halfvec(3), '\x01', 1 FROM generate_series(1, 500) AS i;
        """;

    private Task<long> RelationFileAsync() => ScalarAsync<long>("SELECT pg_relation_filenode('{s}.embeddingkit_embeddings_3')::bigint");

    private Task<string> PrimaryKeyAsync() => ScalarAsync<string>("""
        SELECT string_agg(a.attname, ',' ORDER BY k.ord)
        FROM pg_constraint c CROSS JOIN LATERAL unnest(c.conkey) WITH ORDINALITY AS k(attnum, ord)
        JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum
        WHERE c.conrelid = '{s}.embeddingkit_embeddings_3'::regclass AND c.contype = 'p'
        """);

    [Fact]
    public async Task EnsureTableAsync_TableOfBeforeTheChunkKey_MovesToTheChunkKeyWithoutRewritingRows()
    {
        await ExecuteAsync(OldTableSql);
        var fileBefore = await RelationFileAsync();
        var table = new EmbeddingTable(Schema, 3);

        await new EmbeddingIndexManager(DataSource).EnsureTableAsync(table, Ct);

        Assert.Equal("entity_type,entity_id,model,chunk", await PrimaryKeyAsync());
        Assert.Equal(fileBefore, await RelationFileAsync()); // no table rewrite
        Assert.Equal(500L, await ScalarAsync<long>("SELECT count(*) FROM {s}.embeddingkit_embeddings_3 WHERE chunk = 0 AND chunk_start IS NULL AND generation = 1"));
        Assert.Equal("embeddingkit_embeddings_3_pkey", await ScalarAsync<string>("SELECT conname::text FROM pg_constraint WHERE conrelid = '{s}.embeddingkit_embeddings_3'::regclass AND contype = 'p'"));
        Assert.Equal(1L, await ScalarAsync<long>("SELECT count(*) FROM pg_indexes WHERE schemaname = '" + Schema + "' AND tablename = 'embeddingkit_embeddings_3'"));
    }

    [Fact]
    public async Task UpsertAsync_AfterTheUpgrade_ReplacesChunkZeroOfAnExistingEntity()
    {
        await ExecuteAsync(OldTableSql);
        var table = new EmbeddingTable(Schema, 3);
        var manager = new EmbeddingIndexManager(DataSource);
        await manager.EnsureTableAsync(table, Ct);
        await manager.EnsureTableAsync(table, Ct); // a second start finds nothing to do
        var storage = new PgvectorEmbeddingStorage(DataSource, _ => table);

        var written = await storage.UpsertAsync([new EmbeddingRecord(new EmbeddingTaskKey("doc", "7", "m"), new Half[] { (Half)0, (Half)1, (Half)0 }, [2], 2)], Ct);

        Assert.Equal(1, written);
        Assert.Equal(500L, await ScalarAsync<long>("SELECT count(*) FROM {s}.embeddingkit_embeddings_3"));
        Assert.Equal(2L, await ScalarAsync<long>("SELECT generation FROM {s}.embeddingkit_embeddings_3 WHERE entity_id = '7' AND chunk = 0"));
    }

    [Fact]
    public async Task EnsureTableAsync_NewTable_HasTheChunkKey()
    {
        var table = new EmbeddingTable(Schema, 3);

        await new EmbeddingIndexManager(DataSource).EnsureTableAsync(table, Ct);

        Assert.Equal("entity_type,entity_id,model,chunk", await PrimaryKeyAsync());
    }
}
