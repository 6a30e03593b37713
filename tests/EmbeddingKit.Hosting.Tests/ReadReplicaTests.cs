using EmbeddingKit.Runtime;
using EmbeddingKit.Postgres.Rollout;
using EmbeddingKit.Postgres.Search;
using EmbeddingKit.TestInfrastructure.Postgres;
using Npgsql;

namespace EmbeddingKit.Hosting.Tests;

/// <summary>
/// Search on a real hot standby of the test cluster (pg_basebackup -R on loopback, streaming): vector queries run on the
/// standby, writes and the state reads on the primary, and a search right after a write the standby has not replayed
/// (replay paused) still answers: from the previous vector, or from the primary when the standby cannot.
/// </summary>
public sealed class ReadReplicaTests(PostgresServer server) : IAsyncLifetime
{
    private const string Type = EmbeddingStack.EntityType;
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private EmbeddingStack _stack = null!;
    private PostgresStandby _standby = null!;
    private NpgsqlDataSource _replica = null!;
    private RoundTripCounter _replicaCounter = null!;
    private RoundTripCounter _primarySearchCounter = null!;
    private NpgsqlDataSource _primarySearch = null!;
    private ActiveModelCache _cache = null!;
    private EmbeddingSearchService _service = null!;

    public async ValueTask InitializeAsync()
    {
        _stack = await EmbeddingStack.CreateAsync(server, p => [EmbeddingStack.Model(p, "model-a", 64), EmbeddingStack.Model(p, "model-b", 64)], Ct);
        foreach (var (id, text) in EmbeddingStack.Articles)
        {
            _stack.Documents.Texts[id] = text;
        }

        await _stack.Runtime.EnqueueTextEmbeddingAsync(Type, EmbeddingStack.Articles.Keys, ["model-a"], cancellationToken: Ct);
        await _stack.DrainAsync(Ct);
        await _stack.Rollout.ActivateAsync(Type, "model-a", EmbeddingStack.Articles.Count, cancellationToken: Ct);

        var primary = await server.GetConnectionStringAsync(Ct);
        _standby = await PostgresStandby.StartAsync(primary, Ct);
        _replicaCounter = RoundTripCounter.Start(_standby.ConnectionString);
        _replica = Build(_replicaCounter.ConnectionString, maxPoolSize: 1); // one session: the one the searches use
        _primarySearchCounter = RoundTripCounter.Start(primary);
        _primarySearch = Build(_primarySearchCounter.ConnectionString, maxPoolSize: 10);
        await _standby.WaitForReplayAsync(_stack.DataSource, _replica, Ct);

        _cache = new ActiveModelCache(_stack.Rollout.SearchModels, new ActiveModelCacheOptions { MaxAge = TimeSpan.FromHours(1) });
        _service = new EmbeddingSearchService(new QueryEmbedder(_stack.Registry), new PgvectorSearch(_primarySearch), _stack.Rollout.SearchModels, _stack.Storage)
        {
            ActiveModels = _cache,
            ReadSearch = new PgvectorSearch(_replica),
        };
    }

    public async ValueTask DisposeAsync()
    {
        await _cache.DisposeAsync();
        await using (var resume = _replica.CreateCommand("SELECT pg_wal_replay_resume()"))
        {
            await resume.ExecuteNonQueryAsync(CancellationToken.None);
        }

        await _replica.DisposeAsync();
        await _primarySearch.DisposeAsync();
        await _replicaCounter.DisposeAsync();
        await _primarySearchCounter.DisposeAsync();
        await _standby.DisposeAsync();
        await _stack.DisposeAsync();
    }

    [Fact]
    public async Task SearchAsync_WithAReplica_RunsTheVectorQueryOnTheStandby()
    {
        var (replicaBefore, primaryBefore) = (_replicaCounter.RoundTrips, _primarySearchCounter.RoundTrips);

        var result = await _service.SearchAsync(EmbeddingStack.Articles["3"], Type, k: 3, cancellationToken: Ct);

        Assert.Equal("3", result.Hits[0].EntityId);
        Assert.True(_replicaCounter.RoundTrips > replicaBefore);
        Assert.Equal(primaryBefore, _primarySearchCounter.RoundTrips);
        Assert.True(await InRecoveryAsync()); // the pool's one session, the one that searched
    }

    [Fact]
    public async Task SearchAsync_WriteTheStandbyHasNotReplayed_AnswersFromThePreviousVector()
    {
        await PauseReplayAsync();
        _stack.Documents.Texts["1"] = "Completely new text about sailing boats and the open sea";
        await _stack.Runtime.EnqueueTextEmbeddingAsync(Type, ["1"], ["model-a"], cancellationToken: Ct);
        await _stack.DrainAsync(Ct); // written on the primary only

        var stale = await _service.SearchAsync(EmbeddingStack.Articles["1"], Type, k: 3, cancellationToken: Ct);
        var fresh = await new EmbeddingSearchService(new QueryEmbedder(_stack.Registry), new PgvectorSearch(_stack.DataSource), _stack.Rollout.SearchModels, _stack.Storage)
            .SearchAsync(EmbeddingStack.Articles["1"], Type, k: 3, cancellationToken: Ct);

        Assert.Equal(3, stale.Hits.Count);
        Assert.Equal("1", stale.Hits[0].EntityId); // the standby still holds article 1's previous vector
        Assert.DoesNotContain(fresh.Hits.Take(1), h => h.EntityId == "1");
        Assert.True(await InRecoveryAsync());
    }

    [Fact]
    public async Task SearchAsync_ModelActivatedAfterTheStandbyStopped_AnswersFromThePrimary()
    {
        await PauseReplayAsync();
        await _stack.Runtime.EnqueueTextEmbeddingAsync(Type, EmbeddingStack.Articles.Keys, ["model-b"], cancellationToken: Ct);
        await _stack.DrainAsync(Ct);
        await _stack.Rollout.ActivateAsync(Type, "model-b", EmbeddingStack.Articles.Count, cancellationToken: Ct);
        var primaryBefore = _primarySearchCounter.RoundTrips;

        // The state comes from the primary (model-b is active); the standby has none of its vectors and answers short.
        var result = await WaitForModelAsync("model-b");

        Assert.Equal("5", result.Hits[0].EntityId);
        Assert.Equal(3, result.Hits.Count);
        Assert.True(_primarySearchCounter.RoundTrips > primaryBefore);
    }

    private static NpgsqlDataSource Build(string connectionString, int maxPoolSize)
    {
        var builder = new NpgsqlDataSourceBuilder(connectionString) { ConnectionStringBuilder = { MaxPoolSize = maxPoolSize } };
        builder.UseVector();
        return builder.Build();
    }

    private async Task PauseReplayAsync()
    {
        await using var pause = _replica.CreateCommand("SELECT pg_wal_replay_pause()");
        await pause.ExecuteNonQueryAsync(Ct);
    }

    private async Task<bool> InRecoveryAsync()
    {
        await using var command = _replica.CreateCommand("SELECT pg_is_in_recovery()");
        return (bool)(await command.ExecuteScalarAsync(Ct))!;
    }

    // The activation is seen once its notification arrives (bounded wait); every search meanwhile answers too.
    private async Task<EmbeddingSearchResult> WaitForModelAsync(string model)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        limit.CancelAfter(TimeSpan.FromSeconds(30));
        while (true)
        {
            var result = await _service.SearchAsync(EmbeddingStack.Articles["5"], Type, k: 3, cancellationToken: limit.Token);
            if (result.Model == model)
            {
                return result;
            }

            await Task.Delay(10, limit.Token);
        }
    }
}
