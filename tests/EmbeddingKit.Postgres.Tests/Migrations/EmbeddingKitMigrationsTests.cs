using EmbeddingKit.Postgres.Migrations;
using EmbeddingKit.TestInfrastructure.Postgres;

namespace EmbeddingKit.Postgres.Tests.Migrations;

public sealed class EmbeddingKitMigrationsTests(PostgresServer server)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task ApplyAsync_NewSchema_CreatesSchemaTablesAndRecordsEveryVersion()
    {
        var dataSource = await server.GetDataSourceAsync(Ct);
        var schema = PostgresServer.NewSchemaName("mig");

        var applied = await EmbeddingKitMigrations.ApplyAsync(dataSource, schema, Ct);

        Assert.Equal(Enumerable.Range(1, EmbeddingKitMigrations.LatestVersion), applied);
        Assert.Equal(applied, await EmbeddingKitMigrations.GetAppliedVersionsAsync(dataSource, schema, Ct));
        await using var command = dataSource.CreateCommand(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = $1 AND table_name IN ('embeddingkit_embedding_tasks', 'embeddingkit_embedding_tasks_dead', 'embeddingkit_model_pauses', 'embeddingkit_migrations')");
        command.Parameters.AddWithValue(schema);
        Assert.Equal(4L, await command.ExecuteScalarAsync(Ct));
    }

    [Fact]
    public async Task ApplyAsync_AppliedTwice_SecondCallAppliesNothing()
    {
        var dataSource = await server.GetDataSourceAsync(Ct);
        var schema = PostgresServer.NewSchemaName("mig");
        await EmbeddingKitMigrations.ApplyAsync(dataSource, schema, Ct);

        var second = await EmbeddingKitMigrations.ApplyAsync(dataSource, schema, Ct);

        Assert.Empty(second);
    }

    [Fact]
    public async Task ApplyAsync_ManyConcurrentAppliers_EachVersionAppliedExactlyOnce()
    {
        var dataSource = await server.GetDataSourceAsync(Ct);
        var schema = PostgresServer.NewSchemaName("mig");

        var results = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(() => EmbeddingKitMigrations.ApplyAsync(dataSource, schema, Ct), Ct)));

        Assert.Equal(Enumerable.Range(1, EmbeddingKitMigrations.LatestVersion), results.SelectMany(r => r).Order());
        Assert.Equal(Enumerable.Range(1, EmbeddingKitMigrations.LatestVersion), await EmbeddingKitMigrations.GetAppliedVersionsAsync(dataSource, schema, Ct));
    }

    [Theory]
    [InlineData("x; drop table y")]
    [InlineData("")]
    [InlineData("bad\"quote")]
    [InlineData("1starts_with_digit")]
    [InlineData("has space")]
    [InlineData("nul\0char")]
    public async Task ApplyAsync_HostileOrInvalidSchema_ThrowsArgumentExceptionAndExecutesNothing(string schema)
    {
        var dataSource = await server.GetDataSourceAsync(Ct);
        var victim = await server.CreateSchemaAsync("victim", Ct);
        await using (var create = dataSource.CreateCommand($"CREATE TABLE \"{victim}\".y (id int)"))
        {
            await create.ExecuteNonQueryAsync(Ct);
        }

        var error = await Assert.ThrowsAnyAsync<ArgumentException>(() => EmbeddingKitMigrations.ApplyAsync(dataSource, schema.Replace("y", $"\"{victim}\".y", StringComparison.Ordinal), Ct));

        Assert.Equal("schema", error.ParamName);
        await using var check = dataSource.CreateCommand($"SELECT to_regclass('\"{victim}\".y') IS NOT NULL");
        Assert.Equal(true, await check.ExecuteScalarAsync(Ct));
    }

    [Fact]
    public async Task ApplyAsync_SchemaOver63Bytes_ThrowsArgumentException()
    {
        var dataSource = await server.GetDataSourceAsync(Ct);

        await Assert.ThrowsAsync<ArgumentException>(() => EmbeddingKitMigrations.ApplyAsync(dataSource, new string('a', 64), Ct));
        await Assert.ThrowsAsync<ArgumentException>(() => EmbeddingKitMigrations.ApplyAsync(dataSource, new string('é', 32), Ct));
    }

    [Fact]
    public async Task ApplyAsync_SchemaOf63Bytes_Works()
    {
        var dataSource = await server.GetDataSourceAsync(Ct);
        var schema = ("m" + Guid.NewGuid().ToString("N") + new string('x', 63))[..63];

        var applied = await EmbeddingKitMigrations.ApplyAsync(dataSource, schema, Ct);

        Assert.NotEmpty(applied);
    }

    [Fact]
    public void All_EmbeddedMigrations_AreNumberedWithoutGaps()
    {
        Assert.Equal(Enumerable.Range(1, EmbeddingKitMigrations.All.Count), EmbeddingKitMigrations.All.Select(m => m.Version));
        Assert.All(EmbeddingKitMigrations.All, m => Assert.False(string.IsNullOrWhiteSpace(m.Sql)));
    }
}
