using System.Diagnostics;
using System.Globalization;
using EmbeddingKit.Postgres.Tasks;
using EmbeddingKit.Tasks;
using Npgsql;
using Spectre.Console;

namespace EmbeddingKit.Cli.Infrastructure;

/// <summary>
/// Processes the queue for the configured model with <c>N</c> concurrent claim/process/finish loops
/// (<see cref="EmbeddingTaskDrain.RunOnceAsync"/>), showing progress: a live bar on a terminal, plain lines otherwise.
/// Cancellation stops the loops; a batch in hand is released at once by the drain, so nothing is lost.
/// </summary>
internal sealed class WorkLoop
{
    private readonly CliHost _host;
    private readonly int _concurrency;
    private readonly int _batchSize;
    private readonly TimeSpan _lease;
    private readonly bool _untilIdle;
    private readonly Reporter _reporter;
    private readonly string[] _models;
    private readonly Stopwatch _watch = new();
    private long _claimed;
    private long _completed;
    private long _failed;
    private long _dead;
    private long _released;
    private long _leaseLost;
    private long _outstanding;
    private long _transientErrors;

    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(15);

    public WorkLoop(CliHost host, int concurrency, int batchSize, TimeSpan lease, bool untilIdle, Reporter reporter)
    {
        _host = host;
        _concurrency = concurrency;
        _batchSize = batchSize;
        _lease = lease;
        _untilIdle = untilIdle;
        _reporter = reporter;
        _models = [host.Model.Name];
    }

    public async Task<WorkSummary> RunAsync(CancellationToken cancellationToken)
    {
        _outstanding = await _host.QueueAdmin.CountOutstandingAsync(_models, cancellationToken);
        _watch.Start();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        await using var signal = new PostgresTaskSignal(_host.DataSource, _host.Schema);
        var loops = Enumerable.Range(0, _concurrency).Select(i => Task.Run(() => LoopAsync(i, signal, stop), CancellationToken.None)).ToList();
        var all = Task.WhenAll(loops);
        try
        {
            if (_reporter.Interactive)
            {
                await ShowLiveAsync(all, cancellationToken);
            }
            else
            {
                await ShowLinesAsync(all, cancellationToken);
            }

            await all;
        }
        catch
        {
            await stop.CancelAsync();
            try
            {
                await all;
            }
            catch (Exception) when (cancellationToken.IsCancellationRequested || stop.IsCancellationRequested)
            {
                // The first failure is the one reported.
            }

            throw;
        }

        var interrupted = cancellationToken.IsCancellationRequested;
        var outstanding = await _host.QueueAdmin.CountOutstandingAsync(_models, CancellationToken.None);
        return Summary(outstanding, interrupted);
    }

    private WorkSummary Summary(long outstanding, bool interrupted)
    {
        var elapsed = _watch.Elapsed.TotalSeconds;
        var completed = Interlocked.Read(ref _completed);
        return new WorkSummary
        {
            Models = _models,
            Claimed = Interlocked.Read(ref _claimed),
            Completed = completed,
            Failed = Interlocked.Read(ref _failed),
            Dead = Interlocked.Read(ref _dead),
            Released = Interlocked.Read(ref _released),
            LeaseLost = Interlocked.Read(ref _leaseLost),
            TransientErrors = Interlocked.Read(ref _transientErrors),
            Outstanding = outstanding,
            ElapsedSeconds = Math.Round(elapsed, 3),
            RatePerSecond = elapsed > 0 ? Math.Round(completed / elapsed, 1) : 0,
            Interrupted = interrupted,
        };
    }

    private async Task LoopAsync(int index, PostgresTaskSignal signal, CancellationTokenSource stop)
    {
        var token = stop.Token;
        var workerId = string.Create(CultureInfo.InvariantCulture, $"embeddingkit-cli:{Environment.MachineName}:{Environment.ProcessId}:{index}");
        var backoff = TimeSpan.Zero;
        try
        {
            while (!token.IsCancellationRequested)
            {
                try
                {
                    if (!await IterateAsync(workerId, signal, stop))
                    {
                        return;
                    }

                    backoff = TimeSpan.Zero;
                }
                catch (Exception e) when (!token.IsCancellationRequested && IsTransient(e))
                {
                    // Database restarting, connection cut, pool exhausted: what was claimed comes back when its lease
                    // expires; wait and try again instead of ending the process.
                    backoff = backoff == TimeSpan.Zero ? TimeSpan.FromMilliseconds(500) : TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, MaxBackoff.Ticks));
                    Interlocked.Increment(ref _transientErrors);
                    await Console.Error.WriteLineAsync($"      loop {index}: {CliSettings.OneLine(e)}; retrying in {backoff.TotalSeconds:N1} s");
                    await Task.Delay(backoff, token);
                }
            }
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
            // Stopping: the drain released a batch in hand.
        }
        catch
        {
            await stop.CancelAsync(); // one loop failed: stop the others, the failure is reported
            throw;
        }
    }

    /// <summary>Errors of the database connection that end when the database is back: retried with backoff.</summary>
    private static bool IsTransient(Exception e) => e switch
    {
        PostgresException p => p.IsTransient,
        NpgsqlException => true, // connection-level (I/O, timeout, pool exhausted), not an error reported by the server
        TimeoutException or System.Net.Sockets.SocketException or IOException => true,
        _ => false,
    };

    /// <summary>One claim/process/finish; returns false when the loop is done (until-idle and nothing outstanding).</summary>
    private async Task<bool> IterateAsync(string workerId, PostgresTaskSignal signal, CancellationTokenSource stop)
    {
        var token = stop.Token;
        var result = await EmbeddingTaskDrain.RunOnceAsync(_host.Queue, _host.Runtime, _batchSize, workerId, _lease, cancellationToken: token);
        if (result.Claimed > 0)
        {
            Interlocked.Add(ref _claimed, result.Claimed);
            Interlocked.Add(ref _completed, result.Completion.Completed.Count);
            Interlocked.Add(ref _failed, result.Failure.Retried.Count + result.Failure.Dead.Count);
            Interlocked.Add(ref _dead, result.Failure.Dead.Count);
            Interlocked.Add(ref _released, result.Released);
            Interlocked.Add(ref _leaseLost, result.Completion.LeaseLost.Count + result.Failure.LeaseLost.Count);
            return true;
        }

        if (_untilIdle)
        {
            var outstanding = await _host.QueueAdmin.CountOutstandingAsync(_models, token);
            Interlocked.Exchange(ref _outstanding, outstanding);
            if (outstanding == 0)
            {
                await stop.CancelAsync(); // every loop is done: nothing is outstanding for our models
                return false;
            }

            await ThrowIfPausedAsync(token);

            // Tasks are waiting for a retry backoff or for the lease of a crashed worker to expire.
            await signal.WaitAsync(TimeSpan.FromMilliseconds(500), token);
        }
        else
        {
            await signal.WaitAsync(TimeSpan.FromSeconds(5), token);
        }

        return true;
    }

    private async Task ThrowIfPausedAsync(CancellationToken cancellationToken)
    {
        var stats = await _host.QueueAdmin.GetStatsAsync(cancellationToken);
        var paused = stats.FirstOrDefault(s => _models.Contains(s.Model) && s.PausedUntil is not null && s.Outstanding > 0);
        if (paused is not null)
        {
            var reason = paused.PauseReason is { } r ? ": " + CliSettings.OneLine(new InvalidOperationException(r)) : "";
            throw new CliException($"model '{paused.Model}' is paused until {paused.PausedUntil:u}{reason}; fix the provider settings (or wait) and run work again", 4);
        }
    }

    private string Line()
    {
        var completed = Interlocked.Read(ref _completed);
        var elapsed = _watch.Elapsed.TotalSeconds;
        var rate = elapsed > 0 ? completed / elapsed : 0;
        var remaining = Math.Max(0, Interlocked.Read(ref _outstanding));
        var eta = rate > 0 ? TimeSpan.FromSeconds(remaining / rate) : (TimeSpan?)null;
        return string.Create(CultureInfo.InvariantCulture, $"done {completed:N0}, failed {Interlocked.Read(ref _failed):N0}, {rate:N0}/s, outstanding {remaining:N0}, ETA {(eta is { } t ? $"{t.TotalSeconds:N0} s" : "-")}");
    }

    private async Task RefreshOutstandingAsync(CancellationToken cancellationToken)
    {
        try
        {
            Interlocked.Exchange(ref _outstanding, await _host.QueueAdmin.CountOutstandingAsync(_models, cancellationToken));
        }
        catch (Exception e) when (e is Npgsql.NpgsqlException or OperationCanceledException)
        {
            // Progress only; the loops report real failures.
        }
    }

    private async Task ShowLinesAsync(Task loops, CancellationToken cancellationToken)
    {
        while (!loops.IsCompleted)
        {
            await Task.WhenAny(loops, Task.Delay(TimeSpan.FromSeconds(2), CancellationToken.None));
            if (!loops.IsCompleted)
            {
                await RefreshOutstandingAsync(cancellationToken);
                _reporter.Line("      " + Line());
            }
        }
    }

    private async Task ShowLiveAsync(Task loops, CancellationToken cancellationToken)
    {
        await AnsiConsole.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .StartAsync(async context =>
            {
                var task = context.AddTask(Markup.Escape(Line()), maxValue: Math.Max(1, _outstanding));
                var refreshed = Stopwatch.StartNew();
                while (!loops.IsCompleted)
                {
                    await Task.WhenAny(loops, Task.Delay(TimeSpan.FromMilliseconds(200), CancellationToken.None));
                    if (refreshed.Elapsed > TimeSpan.FromSeconds(1))
                    {
                        await RefreshOutstandingAsync(cancellationToken);
                        refreshed.Restart();
                    }

                    var done = Interlocked.Read(ref _completed) + Interlocked.Read(ref _dead);
                    task.MaxValue = Math.Max(1, done + Interlocked.Read(ref _outstanding));
                    task.Value = done;
                    task.Description = Markup.Escape(Line());
                }

                var finished = Interlocked.Read(ref _completed) + Interlocked.Read(ref _dead);
                task.MaxValue = Math.Max(1, finished + Interlocked.Read(ref _outstanding));
                task.Value = finished;
                task.Description = Markup.Escape(Line());
            });
    }
}
