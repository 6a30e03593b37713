using EmbeddingKit.Runtime;
using EmbeddingKit.Postgres.Rollout;
using EmbeddingKit.Postgres.Search;
using EmbeddingKit.TestInfrastructure.Postgres;
using Npgsql;

namespace EmbeddingKit.Hosting.Tests;

/// <summary>Database round trips of one search, counted on the wire by a proxy: the state read (none when cached) and
/// one for the vector query (BEGIN, settings, filter count, query and COMMIT travel together).</summary>
public sealed class SearchRoundTripTests(PostgresServer server) : IAsyncLifetime
{
    private const string Type = EmbeddingStack.EntityType;
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private EmbeddingStack _stack = null!;
    private RoundTripCounter _counter = null!;
    private NpgsqlDataSource _counted = null!;
    private EmbeddingRollout _rollout = null!;

    public async ValueTask InitializeAsync()
    {
        _stack = await EmbeddingStack.CreateAsync(server, cancellationToken: Ct);
        foreach (var (id, text) in EmbeddingStack.Articles)
        {
            _stack.Documents.Texts[id] = text;
        }

        await _stack.Runtime.EnqueueTextEmbeddingAsync(Type, EmbeddingStack.Articles.Keys, ["model-a"], cancellationToken: Ct);
        await _stack.DrainAsync(Ct);
        await _stack.Rollout.ActivateAsync(Type, "model-a", EmbeddingStack.Articles.Count, cancellationToken: Ct);
        _counter = RoundTripCounter.Start(await server.GetConnectionStringAsync(Ct));
        var builder = new NpgsqlDataSourceBuilder(_counter.ConnectionString);
        builder.UseVector();
        _counted = builder.Build();
        _rollout = new EmbeddingRollout(_counted, _stack.Schema, _stack.Storage, _stack.Queue);
    }

    public async ValueTask DisposeAsync()
    {
        await _counted.DisposeAsync();
        await _counter.DisposeAsync();
        await _stack.DisposeAsync();
    }

    [Fact]
    public async Task SearchAsync_StateCachedAndListening_OneRoundTrip()
    {
        await using var cache = new ActiveModelCache(_rollout.SearchModels, new ActiveModelCacheOptions { MaxAge = TimeSpan.FromHours(1) });
        var service = new EmbeddingSearchService(new QueryEmbedder(_stack.Registry), new PgvectorSearch(_counted), _rollout.SearchModels, _stack.Storage) { ActiveModels = cache };
        await service.SearchAsync("warm up", Type, cancellationToken: Ct);
        using (var limit = CancellationTokenSource.CreateLinkedTokenSource(Ct))
        {
            limit.CancelAfter(TimeSpan.FromSeconds(30));
            while (!cache.IsListening)
            {
                await Task.Delay(10, limit.Token);
            }
        }

        await service.SearchAsync("warm up again", Type, cancellationToken: Ct);
        var before = _counter.RoundTrips;

        var result = await service.SearchAsync(EmbeddingStack.Articles["3"], Type, k: 3, cancellationToken: Ct);

        Assert.Equal(1, _counter.RoundTrips - before);
        Assert.Equal("3", result.Hits[0].EntityId);
        Assert.Equal(3, result.Hits.Count);
    }

    [Fact]
    public async Task SearchAsync_NoCache_TwoRoundTrips()
    {
        var service = new EmbeddingSearchService(new QueryEmbedder(_stack.Registry), new PgvectorSearch(_counted), _rollout.SearchModels, _stack.Storage);
        await service.SearchAsync("warm up", Type, cancellationToken: Ct);
        var before = _counter.RoundTrips;

        var result = await service.SearchAsync(EmbeddingStack.Articles["4"], Type, k: 3, cancellationToken: Ct);

        Assert.Equal(2, _counter.RoundTrips - before);
        Assert.Equal("4", result.Hits[0].EntityId);
    }

    [Fact]
    public async Task SearchAsync_IdFilter_CountsTheFilterFirst()
    {
        var service = new EmbeddingSearchService(new QueryEmbedder(_stack.Registry), new PgvectorSearch(_counted), _rollout.SearchModels, _stack.Storage);
        await service.SearchAsync("warm up", Type, cancellationToken: Ct);
        var before = _counter.RoundTrips;

        var result = await service.SearchAsync(EmbeddingStack.Articles["4"], Type, k: 2, entityIds: ["4", "6"], cancellationToken: Ct);

        // State, the filter count (ids are usually selective: then the index query is never run), then the query with
        // BEGIN and COMMIT.
        Assert.Equal(3, _counter.RoundTrips - before);
        Assert.Equal(["4", "6"], result.Hits.Select(h => h.EntityId));
    }
}
