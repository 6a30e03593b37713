using EmbeddingKit.TestInfrastructure.Postgres;
using Pgvector;

namespace EmbeddingKit.Postgres.Tests;

/// <summary>The Pgvector package is built against Npgsql 8 and uses an experimental converter API; prove it works on
/// Npgsql 10 against the real server.</summary>
public sealed class HalfVectorRoundTripTests(PostgresServer server)
{
    [Theory]
    [InlineData(3)]
    [InlineData(768)]
    [InlineData(4000)]
    public async Task HalfVector_WrittenAndReadThroughNpgsql10_RoundTripsExactly(int dimensions)
    {
        var ct = TestContext.Current.CancellationToken;
        var dataSource = await server.GetDataSourceAsync(ct);
        var values = Enumerable.Range(0, dimensions).Select(i => (Half)((i % 17) - 8.5f)).ToArray();

        await using var command = dataSource.CreateCommand("SELECT $1::halfvec, vector_dims($1::halfvec)");
        command.Parameters.AddWithValue(new HalfVector(values));
        await using var reader = await command.ExecuteReaderAsync(ct);
        Assert.True(await reader.ReadAsync(ct));
        var roundTripped = reader.GetFieldValue<HalfVector>(0);

        Assert.Equal(dimensions, reader.GetInt32(1));
        Assert.Equal(values, roundTripped.ToArray());
    }
}
