using EmbeddingKit.TestInfrastructure.Postgres;
using Npgsql;

namespace EmbeddingKit.Postgres.Tests;

/// <summary>The wire proxy the round-trip tests rely on: a pipelined batch is one round trip however its messages reach
/// the proxy, and statements that each wait for their answer are one each.</summary>
public sealed class RoundTripCounterTests(PostgresServer server)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task RoundTrips_BatchWithASyncPerCommand_CountsOnceEveryTime()
    {
        await using var counter = RoundTripCounter.Start(await server.GetConnectionStringAsync(Ct));
        // The batch leaves the client in one write (it fits the write buffer), as the statements of the search tests do.
        await using var dataSource = NpgsqlDataSource.Create(new NpgsqlConnectionStringBuilder(counter.ConnectionString) { WriteBufferSize = 64 * 1024 }.ConnectionString);
        await using var connection = await dataSource.OpenConnectionAsync(Ct);
        for (var run = 0; run < 20; run++)
        {
            // An error barrier after every command: the server answers each with ReadyForQuery, often before the proxy
            // has read the batch's rest (which the old counter then took for new round trips).
            await using var batch = new NpgsqlBatch(connection) { EnableErrorBarriers = true };
            for (var i = 0; i < 100; i++)
            {
                batch.BatchCommands.Add(new NpgsqlBatchCommand("SELECT $1::int") { Parameters = { new NpgsqlParameter<int> { TypedValue = i } } });
            }

            var before = counter.RoundTrips;

            await batch.ExecuteNonQueryAsync(Ct);

            Assert.Equal(1, counter.RoundTrips - before);
        }

        var sequential = counter.RoundTrips;
        for (var i = 0; i < 5; i++)
        {
            await using var command = new NpgsqlCommand("SELECT 1", connection);
            await command.ExecuteScalarAsync(Ct);
        }

        Assert.Equal(5, counter.RoundTrips - sequential);
    }

    [Fact]
    public async Task RoundTrips_SlowProxyAndATransaction_CountsWhatTheClientWaitedFor()
    {
        // The proxy takes the client's bytes 50 ms after they arrive: the server has long answered BEGIN (sent as a simple
        // query, so with its own ReadyForQuery) before the proxy reads the SELECT that left the client with it.
        await using var counter = RoundTripCounter.Start(await server.GetConnectionStringAsync(Ct), TimeSpan.FromMilliseconds(50));
        await using var dataSource = NpgsqlDataSource.Create(counter.ConnectionString);
        await using var connection = await dataSource.OpenConnectionAsync(Ct);
        var before = counter.RoundTrips;

        await using (var transaction = await connection.BeginTransactionAsync(Ct))
        {
            await using var command = new NpgsqlCommand("SELECT 1", connection, transaction);
            await command.ExecuteScalarAsync(Ct);
            await transaction.CommitAsync(Ct);
        }

        // BEGIN with the SELECT (one write), then COMMIT.
        Assert.Equal(2, counter.RoundTrips - before);
    }
}
