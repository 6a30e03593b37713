using Npgsql;
using Polly;
using Polly.Retry;

namespace EmbeddingKit.Postgres;

/// <summary>
/// The reconnecting <c>LISTEN</c> loop of <see cref="Tasks.PostgresTaskSignal"/> and <see cref="Search.ActiveModelCache"/>:
/// one dedicated connection listens until the loop is stopped; a connection that cannot be opened, or that drops, is
/// opened again after a Polly backoff of <see cref="FirstDelay"/> doubling to <see cref="MaxDelay"/> (no jitter), which
/// starts over at <see cref="FirstDelay"/> after every connection that listened. Time comes from the given
/// <see cref="TimeProvider"/>.
/// </summary>
internal static class PostgresNotificationListener
{
    /// <summary>The wait after a failure, doubled per failure in a row.</summary>
    public static readonly TimeSpan FirstDelay = TimeSpan.FromMilliseconds(500);

    /// <summary>The longest wait between two tries.</summary>
    public static readonly TimeSpan MaxDelay = TimeSpan.FromSeconds(30);

    /// <summary>Listens until <paramref name="stoppingToken"/> is cancelled; returns then (never throws).</summary>
    /// <param name="dataSource">Opens the listening connection.</param>
    /// <param name="listenSql">The <c>LISTEN</c> statement(s), with validated channel names.</param>
    /// <param name="onNotification">Receives the notifications.</param>
    /// <param name="onListening">Runs each time a connection has started listening (notifications may have been missed
    /// before it).</param>
    /// <param name="onFailed">Runs after each failure (opening, listening, or a drop), with the wait before the next try.</param>
    /// <param name="timeProvider">The clock of the waits.</param>
    /// <param name="stoppingToken">Stops the loop.</param>
    public static async Task RunAsync(
        NpgsqlDataSource dataSource,
        string listenSql,
        NotificationEventHandler onNotification,
        Action onListening,
        Action<Exception, TimeSpan> onFailed,
        TimeProvider timeProvider,
        CancellationToken stoppingToken)
    {
        var pipeline = new ResiliencePipelineBuilder<NpgsqlConnection> { TimeProvider = timeProvider }
            .AddRetry(new RetryStrategyOptions<NpgsqlConnection>
            {
                ShouldHandle = args => ValueTask.FromResult(args.Outcome.Exception is { } e && !(e is OperationCanceledException && stoppingToken.IsCancellationRequested)),
                MaxRetryAttempts = int.MaxValue,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = false,
                Delay = FirstDelay,
                MaxDelay = MaxDelay,
                OnRetry = args =>
                {
                    onFailed(args.Outcome.Exception!, args.RetryDelay);
                    return default;
                },
            })
            .Build();

        // One pipeline execution per listening connection: its first attempt waits on the connection that listens (it
        // ends only by throwing, when the connection drops), the next attempts open a new one, with the backoff between
        // them, and the execution returns once a new connection listens. So the delays start over after every connection
        // that listened, and the first connection is opened at once.
        var state = new State(dataSource, listenSql, onNotification, onListening);
        try
        {
            while (true)
            {
                state.Listening = await pipeline.ExecuteAsync(static (s, token) => s.NextAsync(token), state, stoppingToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopped.
        }
        finally
        {
            if (state.Listening is { } connection)
            {
                await connection.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    private sealed class State(NpgsqlDataSource dataSource, string listenSql, NotificationEventHandler onNotification, Action onListening)
    {
        public NpgsqlConnection? Listening { get; set; }

        public async ValueTask<NpgsqlConnection> NextAsync(CancellationToken cancellationToken)
        {
            if (Listening is { } current)
            {
                Listening = null;
                await using (current.ConfigureAwait(false))
                {
                    while (true)
                    {
                        await current.WaitAsync(cancellationToken).ConfigureAwait(false);
                    }
                }
            }

            var connection = await dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                connection.Notification += onNotification;
                await using var listen = new NpgsqlCommand(listenSql, connection);
                await listen.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                await connection.DisposeAsync().ConfigureAwait(false);
                throw;
            }

            onListening();
            return connection;
        }
    }
}
