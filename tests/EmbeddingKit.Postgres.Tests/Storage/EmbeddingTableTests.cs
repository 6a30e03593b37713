using System.Text;
using EmbeddingKit.Postgres.Storage;

namespace EmbeddingKit.Postgres.Tests.Storage;

public sealed class EmbeddingTableTests
{
    [Theory]
    [InlineData(0)]
    [InlineData(4001)]
    public void Constructor_DimensionsOutOfRange_Throws(int dimensions) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new EmbeddingTable("s", dimensions));

    [Fact]
    public void Constructor_DefaultName_IsOneTablePerDimension()
    {
        var table = new EmbeddingTable("app", 4000);

        Assert.Equal("embeddingkit_embeddings_4000", table.Name);
        Assert.Equal("\"app\".\"embeddingkit_embeddings_4000\"", table.QualifiedName);
        Assert.Contains("embedding    halfvec(4000) NOT NULL", table.CreateTableSql(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("bad-schema", null)]
    [InlineData("s", "x\"; drop table y; --")]
    public void Constructor_UnsafeIdentifier_Throws(string schema, string? name) =>
        Assert.Throws<ArgumentException>(() => new EmbeddingTable(schema, 3, name));

    [Theory]
    [InlineData("BAAI/bge-m3")]
    [InlineData("x'); drop table y; --")]
    [InlineData("text-embedding-3-small")]
    [InlineData("ユニコード")]
    [InlineData("a-very-long-model-name-that-goes-on-and-on-and-on-well-past-sixty-three-bytes-of-identifier")]
    public void IndexNames_AnyModel_ArePlainIdentifiersOfAtMost63Bytes(string model)
    {
        var table = new EmbeddingTable("s", 768, "a_table_name_that_is_quite_long_itself_for_sure_yes");

        foreach (var name in new[] { table.HnswIndexName(model), table.BinaryQuantizedIndexName(model) })
        {
            Assert.True(Encoding.UTF8.GetByteCount(name) <= 63, name);
            Assert.Equal(name, PostgresIdentifier.Validate(name));
        }

        Assert.NotEqual(table.HnswIndexName(model), table.BinaryQuantizedIndexName(model));
    }

    [Fact]
    public void IndexNames_ModelsThatSanitizeAlike_StillDiffer()
    {
        var table = new EmbeddingTable("s", 768);

        Assert.NotEqual(table.HnswIndexName("bge/m3"), table.HnswIndexName("bge-m3"));
        Assert.StartsWith("embeddingkit_embeddings_768_hnsw_bge_m3_", table.HnswIndexName("bge-m3"), StringComparison.Ordinal);
    }

    [Fact]
    public void CreateIndexSql_ModelWithQuotes_IsSplicedOnlyAsAQuotedLiteral()
    {
        var table = new EmbeddingTable("s", 3);
        const string model = "x'); drop table y; --";

        var hnsw = table.CreateHnswIndexSql(model);
        var bq = table.CreateBinaryQuantizedIndexSql(model, concurrently: false);

        Assert.EndsWith("WHERE model = 'x''); drop table y; --'", hnsw, StringComparison.Ordinal);
        Assert.Contains("USING hnsw (embedding halfvec_ip_ops)", hnsw, StringComparison.Ordinal);
        Assert.StartsWith("CREATE INDEX CONCURRENTLY IF NOT EXISTS", hnsw, StringComparison.Ordinal);
        Assert.Contains("USING hnsw ((binary_quantize(embedding)::bit(3)) bit_hamming_ops)", bq, StringComparison.Ordinal);
        Assert.StartsWith("CREATE INDEX IF NOT EXISTS", bq, StringComparison.Ordinal);
    }

    [Fact]
    public void CreateHnswIndexSql_CosineOperatorClass_UsesCosineOps()
    {
        var table = new EmbeddingTable("s", 3) { OperatorClass = HalfvecOperatorClass.Cosine, HnswM = 24, HnswEfConstruction = 100 };

        var sql = table.CreateHnswIndexSql("m");

        Assert.Contains("(embedding halfvec_cosine_ops) WITH (m = 24, ef_construction = 100)", sql, StringComparison.Ordinal);
        Assert.Equal("<=>", table.DistanceOperator);
    }
}
