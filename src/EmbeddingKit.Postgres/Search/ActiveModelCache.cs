using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace EmbeddingKit.Postgres.Search;

/// <summary>
/// Keeps, per entity type, what search reads before it runs (<see cref="SearchModelState"/>: the active model, the
/// settings and whether coverage is complete), so a warm search reads none of it from the database. One connection to
/// the primary <c>LISTEN</c>s: an activation, a retirement or saved settings (<c>EmbeddingRollout</c>, through <see cref="SearchModelStore"/>) drop every
/// entry, and an enqueue drops the entries that said the active model lacked nothing. Changes made through the same
/// store drop the entries at once, before the notification arrives.
/// </summary>
/// <remarks>
/// <para>Staleness is bounded: an entry lives at most <see cref="ActiveModelCacheOptions.MaxAge"/>, and at most
/// <see cref="ActiveModelCacheOptions.MaxAgeWithoutListener"/> while the listening connection is down (it reconnects
/// with backoff; on reconnecting, everything kept is dropped, since notifications may have been missed). A
/// notification arrives shortly after the change commits, so a search in that interval may still use the earlier
/// state, as it would have had it read the state just before the change.</para>
/// <para>An entry that says the active model may lack vectors is not dropped on enqueue: it already makes search look
/// for the entities it lacks on every call; it is read again when it ages out or on a rollout change.</para>
/// </remarks>
public sealed partial class ActiveModelCache : IAsyncDisposable
{
    private readonly SearchModelStore _rollout;
    private readonly Sql _sql;
    private readonly ActiveModelCacheOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<(string EntityType, string? DefaultModel), Entry> _entries = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _gate = new();
    private Task? _listener;
    private long _changes;
    private long _enqueues;
    private volatile bool _listening;

    /// <summary>Creates the cache over the search models (whose data source must be the primary); it starts listening on first
    /// use.</summary>
    /// <param name="rollout">Reads the state from the primary.</param>
    /// <param name="options">Ages and size; defaults when null.</param>
    /// <param name="timeProvider">The clock for ages and reconnect delays; the system clock when null.</param>
    /// <param name="logger">Logs a lost listening connection.</param>
    public ActiveModelCache(SearchModelStore rollout, ActiveModelCacheOptions? options = null, TimeProvider? timeProvider = null, ILogger<ActiveModelCache>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(rollout);
        _options = options ?? new ActiveModelCacheOptions();
        _options.Validate();
        _rollout = rollout;
        _sql = new Sql(SearchModelStore.NotificationChannelFor(rollout.Schema), rollout.TaskChannel);
        _time = timeProvider ?? TimeProvider.System;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _rollout.Changed += OnChanged;
        LexicalIndex.HybridSettingsSaved += OnHybridSettingsSaved;
    }

    /// <summary>Gets whether the listening connection is up, so entries live up to <see cref="ActiveModelCacheOptions.MaxAge"/>.</summary>
    public bool IsListening => _listening;

    /// <summary>The search state of an entity type: kept, or read from the primary in one round trip.</summary>
    /// <param name="entityType">The entity type.</param>
    /// <param name="defaultModel">The model search uses while none is active (see <see cref="SearchModelStore.GetSearchStateAsync"/>).</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    public async ValueTask<SearchModelState> GetAsync(string entityType, string? defaultModel = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(entityType);
        EnsureListening();
        if (_entries.TryGetValue((entityType, defaultModel), out var kept) && IsFresh(kept))
        {
            return kept.State;
        }

        // Read the counters first: a change notified while the state is read makes the entry stale at once.
        var changes = Interlocked.Read(ref _changes);
        var enqueues = Interlocked.Read(ref _enqueues);
        var listening = _listening;
        var readAt = _time.GetTimestamp();
        var state = await _rollout.GetSearchStateAsync(entityType, defaultModel, cancellationToken).ConfigureAwait(false);
        if (_entries.Count >= _options.MaxEntries)
        {
            _entries.Clear();
        }

        _entries[(entityType, defaultModel)] = new Entry(state, changes, enqueues, readAt, listening);
        return state;
    }

    /// <summary>Drops every entry (for a change made without a notification, such as SQL run by hand).</summary>
    public void Clear()
    {
        Interlocked.Increment(ref _changes);
        _entries.Clear();
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        _rollout.Changed -= OnChanged;
        LexicalIndex.HybridSettingsSaved -= OnHybridSettingsSaved;
        await _stop.CancelAsync().ConfigureAwait(false);
        if (_listener is not null)
        {
            await _listener.ConfigureAwait(false);
        }

        _stop.Dispose();
    }

    private bool IsFresh(Entry entry)
    {
        if (entry.Changes != Interlocked.Read(ref _changes))
        {
            return false;
        }

        if (!entry.State.MayLackVectors && entry.Enqueues != Interlocked.Read(ref _enqueues))
        {
            return false;
        }

        var maxAge = entry.Listening && _listening ? _options.MaxAge : _options.MaxAgeWithoutListener;
        return _time.GetElapsedTime(entry.ReadAt) < maxAge;
    }

    private void EnsureListening()
    {
        if (_listener is not null || !_options.Listen)
        {
            return;
        }

        lock (_gate)
        {
            if (_listener is null && !_stop.IsCancellationRequested)
            {
                _listener = Task.Run(ListenAsync, CancellationToken.None);
            }
        }
    }

    private void OnChanged() => Interlocked.Increment(ref _changes);

    private void OnHybridSettingsSaved(string schema)
    {
        if (string.Equals(schema, _rollout.Schema, StringComparison.Ordinal))
        {
            OnChanged();
        }
    }

    private void OnNotification(object sender, NpgsqlNotificationEventArgs e)
    {
        if (e.Channel == _rollout.TaskChannel)
        {
            Interlocked.Increment(ref _enqueues);
        }
        else
        {
            Interlocked.Increment(ref _changes);
        }
    }

    private async Task ListenAsync()
    {
        await PostgresNotificationListener.RunAsync(
            _rollout.DataSource,
            _sql.Listen,
            OnNotification,
            () =>
            {
                // Changes made while nobody listened were not notified: drop what was read before.
                _listening = true;
                Interlocked.Increment(ref _changes);
            },
            (error, delay) =>
            {
                _listening = false;
                Interlocked.Increment(ref _changes);
                LogListenFailed(_logger, _options.MaxAgeWithoutListener.TotalSeconds, delay.TotalSeconds, error.Message);
            },
            _time,
            _stop.Token).ConfigureAwait(false);
        _listening = false;
    }

    [LoggerMessage(EventId = 3201, Level = LogLevel.Warning, Message = "Listening for rollout changes failed; search reads the active model at most every {MaxAgeSeconds} s until it reconnects in {DelaySeconds} s: {Error}")]
    private static partial void LogListenFailed(ILogger logger, double maxAgeSeconds, double delaySeconds, string error);

    private sealed record Entry(SearchModelState State, long Changes, long Enqueues, long ReadAt, bool Listening);

    /// <summary>The cache's statement, built once (the channels are named from the validated schema).</summary>
    private sealed class Sql(string rolloutChannel, string taskChannel)
    {
        public string Listen { get; } = $"LISTEN {rolloutChannel}; LISTEN {taskChannel}";
    }
}
