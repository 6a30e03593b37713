using EmbeddingKit.Tasks;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace EmbeddingKit.Postgres.Tasks;

/// <summary>
/// Wakes idle workers on <c>NOTIFY</c> from <see cref="PostgresEmbeddingTaskQueue.EnqueueAsync(IReadOnlyList{EnqueueRequest}, CancellationToken)"/>:
/// one dedicated connection <c>LISTEN</c>s, reconnecting with backoff when it drops. Workers poll as well, so a lost
/// connection only delays work.
/// </summary>
public sealed partial class PostgresTaskSignal : IEmbeddingTaskSignal, IAsyncDisposable
{
    private readonly NpgsqlDataSource _dataSource;
    private readonly Sql _sql;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _gate = new();
    private TaskCompletionSource _pulse = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task? _listener;

    /// <summary>Creates the signal for the queue in <paramref name="schema"/>; it starts listening on first wait.</summary>
    /// <param name="dataSource">The database of the queue.</param>
    /// <param name="schema">The schema of the queue.</param>
    /// <param name="logger">Logs a lost listening connection.</param>
    public PostgresTaskSignal(NpgsqlDataSource dataSource, string schema, ILogger<PostgresTaskSignal>? logger = null)
        : this(dataSource, schema, logger, null)
    {
    }

    /// <summary>Creates the signal for the queue in <paramref name="schema"/> with a clock; it starts listening on first wait.</summary>
    /// <param name="dataSource">The database of the queue.</param>
    /// <param name="schema">The schema of the queue.</param>
    /// <param name="logger">Logs a lost listening connection.</param>
    /// <param name="timeProvider">The clock of wait timeouts and reconnect delays (500 ms doubling to 30 s), or null for
    /// <see cref="TimeProvider.System"/>.</param>
    public PostgresTaskSignal(NpgsqlDataSource dataSource, string schema, ILogger<PostgresTaskSignal>? logger, TimeProvider? timeProvider)
    {
        ArgumentNullException.ThrowIfNull(dataSource);
        _dataSource = dataSource;
        _sql = new Sql(PostgresEmbeddingTaskQueue.ChannelFor(schema));
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _time = timeProvider ?? TimeProvider.System;
    }

    /// <inheritdoc />
    public async ValueTask<bool> WaitAsync(TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        Task pulse;
        lock (_gate)
        {
            _listener ??= Task.Run(ListenAsync, CancellationToken.None);
            pulse = _pulse.Task;
        }

        try
        {
            await pulse.WaitAsync(timeout, _time, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (TimeoutException)
        {
            return false;
        }
    }

    private void Pulse()
    {
        lock (_gate)
        {
            var woken = _pulse;
            _pulse = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            woken.TrySetResult();
        }
    }

    private Task ListenAsync() => PostgresNotificationListener.RunAsync(
        _dataSource,
        _sql.Listen,
        (_, _) => Pulse(),
        Pulse, // anything enqueued while nobody listened: wake the waiters once
        (error, delay) => LogListenFailed(_logger, delay.TotalSeconds, error.Message),
        _time,
        _stop.Token);

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        if (_listener is not null)
        {
            await _listener.ConfigureAwait(false);
        }

        _stop.Dispose();
    }

    [LoggerMessage(EventId = 3101, Level = LogLevel.Warning, Message = "Listening for enqueued tasks failed; reconnecting in {DelaySeconds} s: {Error}")]
    private static partial void LogListenFailed(ILogger logger, double delaySeconds, string error);

    /// <summary>The signal's statement, built once (the channel is named from the validated schema).</summary>
    private sealed class Sql(string channel)
    {
        public string Listen { get; } = $"LISTEN {channel}";
    }
}
