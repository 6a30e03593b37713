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
    private readonly string _channel;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _gate = new();
    private TaskCompletionSource _pulse = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task? _listener;

    /// <summary>Creates the signal for the queue in <paramref name="schema"/>; it starts listening on first wait.</summary>
    public PostgresTaskSignal(NpgsqlDataSource dataSource, string schema, ILogger<PostgresTaskSignal>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(dataSource);
        _dataSource = dataSource;
        _channel = PostgresEmbeddingTaskQueue.ChannelFor(schema);
        _logger = (ILogger?)logger ?? NullLogger.Instance;
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
            await pulse.WaitAsync(timeout, cancellationToken).ConfigureAwait(false);
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

    private async Task ListenAsync()
    {
        var delay = TimeSpan.FromMilliseconds(500);
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                await using var connection = await _dataSource.OpenConnectionAsync(_stop.Token).ConfigureAwait(false);
                connection.Notification += (_, _) => Pulse();
                await using (var listen = new NpgsqlCommand($"LISTEN {_channel}", connection))
                {
                    await listen.ExecuteNonQueryAsync(_stop.Token).ConfigureAwait(false);
                }

                // Anything enqueued while we were not listening: wake the waiters once.
                Pulse();
                delay = TimeSpan.FromMilliseconds(500);
                while (!_stop.IsCancellationRequested)
                {
                    await connection.WaitAsync(_stop.Token).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException) when (_stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                LogListenFailed(_logger, delay.TotalSeconds, e.Message);
                try
                {
                    await Task.Delay(delay, _stop.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }

                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(30).Ticks));
            }
        }
    }

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
}
