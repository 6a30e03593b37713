using EmbeddingKit.Postgres.Rollout;
using EmbeddingKit.Postgres.Search;
using EmbeddingKit.Postgres.Storage;
using EmbeddingKit.Postgres.Tasks;
using EmbeddingKit.Tasks;
using EmbeddingKit.TestInfrastructure.Postgres;
using EmbeddingKit.TestInfrastructure.Time;
using Microsoft.Extensions.Time.Testing;
using Npgsql;

namespace EmbeddingKit.Postgres.Tests.Rollout;

/// <summary>The search state (active model, settings, coverage) in one round trip, kept until a change is notified, and
/// never older than the bound while nobody listens.</summary>
public sealed class ActiveModelCacheTests(PostgresServer server) : SchemaTest(server)
{
    private const string Type = "doc";
    private static readonly TimeSpan WaitLimit = TimeSpan.FromSeconds(30);

    private RoundTripCounter _counter = null!;
    private NpgsqlDataSource _counted = null!;
    private EmbeddingRollout _rollout = null!;
    private PostgresEmbeddingTaskQueue _queue = null!;

    public override async ValueTask InitializeAsync()
    {
        await base.InitializeAsync();
        var table = new EmbeddingTable(Schema, 4);
        await new EmbeddingIndexManager(DataSource).EnsureTableAsync(table, Ct);
        _counter = RoundTripCounter.Start(await Server.GetConnectionStringAsync(Ct));
        var builder = new NpgsqlDataSourceBuilder(_counter.ConnectionString);
        builder.UseVector();
        _counted = builder.Build();
        _queue = new PostgresEmbeddingTaskQueue(_counted, Schema);
        var storage = new PgvectorEmbeddingStorage(_counted, _ => table);
        _rollout = new EmbeddingRollout(_counted, Schema, storage, _queue);
        await _rollout.ActivateAsync(Type, "model-a", 0, cancellationToken: Ct);
        await _rollout.ActivateAsync(Type, "model-b", 0, cancellationToken: Ct);
        await _rollout.SaveSearchSettingsAsync("model-b", SearchPath.Hnsw, 3, 80, 0.97, Ct);
        await _rollout.SaveSearchSettingsAsync("model-a", SearchPath.TwoStage, 5, 60, cancellationToken: Ct);
    }

    public override async ValueTask DisposeAsync()
    {
        await _counted.DisposeAsync();
        await _counter.DisposeAsync();
        await base.DisposeAsync();
    }

    [Fact]
    public async Task GetSearchStateAsync_ActiveModelWithSettingsAndPendingWork_ReadsEverythingInOneRoundTrip()
    {
        await _queue.EnqueueAsync([new EnqueueRequest(Type, "1", "model-b")], Ct);
        await _rollout.GetSearchStateAsync(Type, cancellationToken: Ct); // the data source's first use loads types
        var before = _counter.RoundTrips;

        var state = await _rollout.GetSearchStateAsync(Type, cancellationToken: Ct);

        Assert.Equal(1, _counter.RoundTrips - before);
        Assert.Equal("model-b", state.Active!.Model);
        Assert.Equal("model-a", state.Active.PreviousModel);
        Assert.Equal(new ModelSearchSettings("model-b", SearchPath.Hnsw, 3, 80, 0.97), state.ActiveSettings);
        Assert.Equal(new ModelSearchSettings("model-a", SearchPath.TwoStage, 5, 60, null), state.PreviousSettings);
        Assert.True(state.HasPendingWork);
        Assert.True(state.MayLackVectors);
    }

    [Fact]
    public async Task GetSearchStateAsync_NoActiveModel_ReturnsAnEmptyState()
    {
        var state = await _rollout.GetSearchStateAsync("nothing-active", cancellationToken: Ct);

        Assert.Equal(new SearchModelState("nothing-active", null, null, null, false), state);
    }

    [Fact]
    public async Task GetAsync_WarmEntry_MakesNoRoundTrip()
    {
        await using var cache = new ActiveModelCache(_rollout.SearchModels, new ActiveModelCacheOptions { MaxAge = TimeSpan.FromHours(1) });
        await WaitUntilListeningAsync(cache);
        var first = await cache.GetAsync(Type, cancellationToken: Ct);
        var before = _counter.RoundTrips;

        var second = await cache.GetAsync(Type, cancellationToken: Ct);

        Assert.Equal(0, _counter.RoundTrips - before);
        Assert.Same(first, second);
        Assert.False(second.HasPendingWork);
    }

    [Fact]
    public async Task GetAsync_ModelActivatedElsewhere_NotificationDropsTheEntry()
    {
        await using var cache = new ActiveModelCache(_rollout.SearchModels, new ActiveModelCacheOptions { MaxAge = TimeSpan.FromHours(1) });
        await WaitUntilListeningAsync(cache);
        Assert.Equal("model-b", (await cache.GetAsync(Type, cancellationToken: Ct)).Active!.Model);

        // Another process switches back: only its NOTIFY can make this cache see it within the hour.
        await using (var other = NpgsqlDataSource.Create(await Server.GetConnectionStringAsync(Ct)))
        {
            var table = new EmbeddingTable(Schema, 4);
            var rollout = new EmbeddingRollout(other, Schema, new PgvectorEmbeddingStorage(other, _ => table), new PostgresEmbeddingTaskQueue(other, Schema));
            await rollout.ActivateAsync(Type, "model-a", 0, cancellationToken: Ct);
        }

        var state = await WaitForAsync(cache, s => s.Active!.Model == "model-a");
        Assert.Equal("model-b", state.Active!.PreviousModel);
        Assert.Equal(new ModelSearchSettings("model-a", SearchPath.TwoStage, 5, 60, null), state.ActiveSettings);
    }

    [Fact]
    public async Task GetAsync_SettingsSaved_NotificationDropsTheEntry()
    {
        await using var cache = new ActiveModelCache(_rollout.SearchModels, new ActiveModelCacheOptions { MaxAge = TimeSpan.FromHours(1) });
        await WaitUntilListeningAsync(cache);
        await cache.GetAsync(Type, cancellationToken: Ct);

        await _rollout.SaveSearchSettingsAsync("model-b", SearchPath.TwoStage, 7, 200, cancellationToken: Ct);

        var state = await WaitForAsync(cache, s => s.ActiveSettings!.Oversample == 7);
        Assert.Equal(SearchPath.TwoStage, state.ActiveSettings!.Path);
    }

    [Fact]
    public async Task GetAsync_TaskEnqueuedForTheActiveModel_PendingWorkIsSeen()
    {
        await using var cache = new ActiveModelCache(_rollout.SearchModels, new ActiveModelCacheOptions { MaxAge = TimeSpan.FromHours(1) });
        await WaitUntilListeningAsync(cache);
        Assert.False((await cache.GetAsync(Type, cancellationToken: Ct)).MayLackVectors);

        await _queue.EnqueueAsync([new EnqueueRequest(Type, "42", "model-b")], Ct);

        var state = await WaitForAsync(cache, s => s.HasPendingWork);
        Assert.True(state.MayLackVectors);
    }

    [Fact]
    public async Task GetAsync_NotListening_EntryLivesOnlyUpToTheBound()
    {
        var time = new FakeTimeProvider();
        await using var cache = new ActiveModelCache(
            _rollout.SearchModels, new ActiveModelCacheOptions { Listen = false, MaxAgeWithoutListener = TimeSpan.FromSeconds(1) }, time);
        Assert.Equal("model-b", (await cache.GetAsync(Type, cancellationToken: Ct)).Active!.Model);
        await ExecuteAsync("UPDATE {s}.embeddingkit_active_models SET model = 'model-c', previous_model = 'model-b'");

        var within = await cache.GetAsync(Type, cancellationToken: Ct);
        time.Advance(TimeSpan.FromSeconds(1));
        var after = await cache.GetAsync(Type, cancellationToken: Ct);

        Assert.False(cache.IsListening);
        Assert.Equal("model-b", within.Active!.Model);
        Assert.Equal("model-c", after.Active!.Model);
    }

    [Fact]
    public async Task GetAsync_ListeningConnectionDropped_ReconnectsAfterTheDelayOnTheCacheClock()
    {
        var time = new TimerCountingTimeProvider();
        var application = "cache-" + Guid.NewGuid().ToString("N")[..8];
        var builder = new NpgsqlDataSourceBuilder(await Server.GetConnectionStringAsync(Ct));
        builder.ConnectionStringBuilder.ApplicationName = application;
        builder.UseVector();
        await using var dataSource = builder.Build();
        var table = new EmbeddingTable(Schema, 4);
        var rollout = new EmbeddingRollout(dataSource, Schema, new PgvectorEmbeddingStorage(dataSource, _ => table), new PostgresEmbeddingTaskQueue(dataSource, Schema));
        await using var cache = new ActiveModelCache(rollout.SearchModels, new ActiveModelCacheOptions { MaxAge = TimeSpan.FromHours(1) }, time);
        await WaitUntilListeningAsync(cache);

        await using (var kill = DataSource.CreateCommand("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1 AND query LIKE 'LISTEN%'"))
        {
            kill.Parameters.Add(new NpgsqlParameter<string> { TypedValue = application });
            Assert.Equal(1L, (long)(await kill.ExecuteScalarAsync(Ct))!);
        }

        // The reconnect waits 500 ms on the cache's clock: nothing reconnects until it is advanced.
        Assert.True(await time.WaitForTimersAsync(1, WaitLimit, Ct), "the reconnect delay started");
        Assert.False(cache.IsListening);
        time.Advance(TimeSpan.FromMilliseconds(500));
        await WaitUntilListeningAsync(cache);
        Assert.Equal("model-b", (await cache.GetAsync(Type, cancellationToken: Ct)).Active!.Model);
    }

    [Fact]
    public async Task GetAsync_ChangeMadeByHandThenClear_ReadsAgain()
    {
        await using var cache = new ActiveModelCache(_rollout.SearchModels, new ActiveModelCacheOptions { MaxAge = TimeSpan.FromHours(1) });
        await WaitUntilListeningAsync(cache);
        await cache.GetAsync(Type, cancellationToken: Ct);
        await ExecuteAsync("UPDATE {s}.embeddingkit_model_settings SET ef_search = 321 WHERE model = 'model-b'");

        var kept = await cache.GetAsync(Type, cancellationToken: Ct);
        cache.Clear();
        var read = await cache.GetAsync(Type, cancellationToken: Ct);

        Assert.Equal(80, kept.ActiveSettings!.EfSearch);
        Assert.Equal(321, read.ActiveSettings!.EfSearch);
    }

    [Fact]
    public void Constructor_MaxAgeWithoutListenerAboveMaxAge_Throws()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new ActiveModelCache(
            _rollout.SearchModels, new ActiveModelCacheOptions { MaxAge = TimeSpan.FromSeconds(1), MaxAgeWithoutListener = TimeSpan.FromSeconds(2) }));
    }

    // The listener starts on first use; waiting for it keeps the tests apart from the first second without one.
    private static async Task WaitUntilListeningAsync(ActiveModelCache cache)
    {
        await cache.GetAsync("warm-up", cancellationToken: Ct);
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        limit.CancelAfter(WaitLimit);
        while (!cache.IsListening)
        {
            await Task.Delay(10, limit.Token);
        }
    }

    // A notification arrives after the change commits; the test waits for it (bounded), never for an age to pass.
    private static async Task<SearchModelState> WaitForAsync(ActiveModelCache cache, Func<SearchModelState, bool> seen)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        limit.CancelAfter(WaitLimit);
        while (true)
        {
            var state = await cache.GetAsync(Type, cancellationToken: limit.Token);
            if (seen(state))
            {
                return state;
            }

            await Task.Delay(10, limit.Token);
        }
    }
}
