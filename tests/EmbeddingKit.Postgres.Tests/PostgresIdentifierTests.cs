using EmbeddingKit.Postgres.Search;
using EmbeddingKit.Postgres.Storage;
using EmbeddingKit.Storage;
using EmbeddingKit.Tasks;
using EmbeddingKit.TestInfrastructure.Postgres;
using Npgsql;

namespace EmbeddingKit.Postgres.Tests;

public sealed class PostgresIdentifierTests(PostgresServer server) : SchemaTest(server)
{
    [Theory]
    [InlineData("app\n")]
    [InlineData("app\r\n")]
    [InlineData("\napp")]
    public void Validate_LineBreakAroundName_Throws(string name) =>
        Assert.Throws<ArgumentException>(() => PostgresIdentifier.Validate(name));

    [Fact]
    public void Validate_PlainName_ReturnsIt() =>
        Assert.Equal("app_1$", PostgresIdentifier.Validate("app_1$"));

    [Theory]
    [InlineData("plain", "'plain'")]
    [InlineData("it's", "'it''s'")]
    [InlineData(@"a\b", @"E'a\\b'")]
    [InlineData(@"x\'; drop table y; --", @"E'x\\''; drop table y; --'")]
    public void QuoteLiteral_Value_IsEscapedWhateverTheServerSetting(string value, string expected) =>
        Assert.Equal(expected, PostgresIdentifier.QuoteLiteral(value));

    // With standard_conforming_strings = off, a backslash in '…' escapes the next character: the literal 'm\' would
    // swallow its closing quote. A model name with a backslash must still be data on such a server.
    [Theory]
    [InlineData("on")]
    [InlineData("off")]
    public async Task SearchAsync_ModelNameWithBackslash_IsDataWhateverStandardConformingStrings(string conforming)
    {
        const string model = @"m\'; drop table y; --\";
        await ExecuteAsync("CREATE TABLE {s}.y (id int)");
        var builder = new NpgsqlDataSourceBuilder(await Server.GetConnectionStringAsync(Ct)) { ConnectionStringBuilder = { Options = "-c standard_conforming_strings=" + conforming } };
        builder.UseVector();
        await using var dataSource = builder.Build();
        var table = new EmbeddingTable(Schema, 3);
        var manager = new EmbeddingIndexManager(dataSource);
        await manager.EnsureTableAsync(table, Ct);
        await new PgvectorEmbeddingStorage(dataSource, _ => table).UpsertAsync([new EmbeddingRecord(new EmbeddingTaskKey("doc", "1", model), new Half[] { (Half)1, (Half)0, (Half)0 }, [1], 1)], Ct);
        await manager.EnsureModelIndexesAsync(table, model, Ct);

        var result = await new PgvectorSearch(dataSource).SearchAsync(table, model, new Half[] { (Half)1, (Half)0, (Half)0 }, cancellationToken: Ct);
        var indexes = await manager.GetIndexStatusAsync(table, model, Ct);

        Assert.Equal("1", Assert.Single(result.Hits).EntityId);
        Assert.All(indexes, i => Assert.True(i.IsValid, i.Name));
        Assert.Equal(0L, await ScalarAsync<long>("SELECT count(*) FROM {s}.y"));
    }
}
