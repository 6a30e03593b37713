using System.Globalization;
using EmbeddingKit.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Spectre.Console;

namespace EmbeddingKit.Cli.Infrastructure;

/// <summary>
/// Runs the hosted <see cref="EmbeddingWorker"/> (resolved from the invocation's <c>AddEmbeddingKit(...)</c> container)
/// for the configured model and shows its progress events: a live bar on a terminal, plain lines otherwise. The worker
/// owns the loops, the backoff after failing iterations and, with <c>--until-idle</c>, the stop once nothing is
/// outstanding. Cancellation stops the worker; a batch in hand is released at once, so nothing is lost.
/// </summary>
internal sealed class WorkerRun
{
    private readonly CliHost _host;
    private readonly bool _untilIdle;
    private readonly Reporter _reporter;
    private readonly string[] _models;
    private readonly TimeProvider _time;
    private long _started;
    private EmbeddingWorkerProgress _progress = new();
    private long _reportedErrors;

    public WorkerRun(CliHost host, int concurrency, int batchSize, TimeSpan lease, bool untilIdle, Reporter reporter)
    {
        _host = host;
        _untilIdle = untilIdle;
        _reporter = reporter;
        _time = host.Time;
        _models = [host.Model.Name];
        host.ConfigureWorker = o =>
        {
            o.Concurrency = concurrency;
            o.BatchSize = batchSize;
            o.LeaseDuration = lease;
            o.StopWhenIdle = untilIdle;

            // Until idle, tasks waiting for a retry backoff or an expired lease are looked for twice a second.
            o.PollInterval = untilIdle ? TimeSpan.FromMilliseconds(500) : TimeSpan.FromSeconds(5);
            o.FailureBackoff = TimeSpan.FromMilliseconds(500);
            o.MaxFailureBackoff = TimeSpan.FromSeconds(15);
            o.StatsInterval = TimeSpan.FromSeconds(reporter.Interactive ? 1 : 2);
            o.WorkerId = string.Create(CultureInfo.InvariantCulture, $"embeddingkit-cli:{Environment.MachineName}:{Environment.ProcessId}");
        };
    }

    public async Task<WorkSummary> RunAsync(CancellationToken cancellationToken)
    {
        var worker = _host.Services.GetRequiredService<EmbeddingWorker>();
        worker.ProgressChanged += (_, progress) => Volatile.Write(ref _progress, progress);
        _started = _time.GetTimestamp();
        await worker.StartAsync(CancellationToken.None);
        var running = worker.ExecuteTask ?? Task.CompletedTask;
        Task? stopping = null;
        await using (cancellationToken.Register(() => stopping = Task.Run(() => worker.StopAsync(CancellationToken.None), CancellationToken.None)))
        {
            if (_reporter.Interactive)
            {
                await ShowLiveAsync(running);
            }
            else
            {
                await ShowLinesAsync(running);
            }
        }

        await running;
        if (stopping is not null)
        {
            await stopping;
        }

        var interrupted = cancellationToken.IsCancellationRequested;
        if (!interrupted)
        {
            await ThrowIfPausedAsync(CancellationToken.None);
        }

        var outstanding = await _host.QueueAdmin.CountOutstandingAsync(_models, CancellationToken.None);
        return Summary(worker.Progress, outstanding, interrupted);
    }

    private WorkSummary Summary(EmbeddingWorkerProgress progress, long outstanding, bool interrupted)
    {
        var elapsed = _time.GetElapsedTime(_started).TotalSeconds;
        return new WorkSummary
        {
            Models = _models,
            Claimed = progress.Claimed,
            Completed = progress.Completed,
            Failed = progress.Failed,
            Dead = progress.Dead,
            Released = progress.Released,
            LeaseLost = progress.LeaseLost,
            TransientErrors = progress.IterationErrors,
            Outstanding = outstanding,
            ElapsedSeconds = Math.Round(elapsed, 3),
            RatePerSecond = elapsed > 0 ? Math.Round(progress.Completed / elapsed, 1) : 0,
            Interrupted = interrupted,
        };
    }

    /// <summary>The worker stopped as idle while tasks of the model remain: the model is paused (a configuration error
    /// the provider reported), which waiting does not fix.</summary>
    private async Task ThrowIfPausedAsync(CancellationToken cancellationToken)
    {
        if (!_untilIdle)
        {
            return;
        }

        var stats = await _host.QueueAdmin.GetStatsAsync(cancellationToken);
        var paused = stats.FirstOrDefault(s => _models.Contains(s.Model) && s.PausedUntil is not null && s.Outstanding > 0);
        if (paused is not null)
        {
            var reason = paused.PauseReason is { } r ? ": " + CliSettings.OneLine(new InvalidOperationException(r)) : "";
            throw new CliException($"model '{paused.Model}' is paused until {paused.PausedUntil:u}{reason}; fix the provider settings (or wait) and run work again", 4);
        }
    }

    private string Line(EmbeddingWorkerProgress progress)
    {
        var elapsed = _time.GetElapsedTime(_started).TotalSeconds;
        var rate = elapsed > 0 ? progress.Completed / elapsed : 0;
        var remaining = Math.Max(0, progress.Outstanding);
        var eta = rate > 0 ? TimeSpan.FromSeconds(remaining / rate) : (TimeSpan?)null;
        return string.Create(CultureInfo.InvariantCulture, $"done {progress.Completed:N0}, failed {progress.Failed:N0}, {rate:N0}/s, outstanding {remaining:N0}, ETA {(eta is { } t ? $"{t.TotalSeconds:N0} s" : "-")}");
    }

    /// <summary>Says once per new failing iteration that the worker backs off and tries again (the database restarting,
    /// a connection cut): what was claimed comes back when its lease expires.</summary>
    private void ReportErrors(EmbeddingWorkerProgress progress)
    {
        if (progress.IterationErrors > _reportedErrors)
        {
            _reportedErrors = progress.IterationErrors;
            Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"      {progress.IterationErrors:N0} failed iteration(s) so far; the worker retries with backoff"));
        }
    }

    private async Task ShowLinesAsync(Task running)
    {
        while (!running.IsCompleted)
        {
            await Task.WhenAny(running, Task.Delay(TimeSpan.FromSeconds(2), _time, CancellationToken.None));
            var progress = Volatile.Read(ref _progress);
            ReportErrors(progress);
            if (!running.IsCompleted)
            {
                _reporter.Line("      " + Line(progress));
            }
        }
    }

    private async Task ShowLiveAsync(Task running)
    {
        await AnsiConsole.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .StartAsync(async context =>
            {
                var task = context.AddTask(Markup.Escape(Line(Volatile.Read(ref _progress))), maxValue: 1);
                while (!running.IsCompleted)
                {
                    await Task.WhenAny(running, Task.Delay(TimeSpan.FromMilliseconds(200), _time, CancellationToken.None));
                    Show(task, Volatile.Read(ref _progress));
                }

                Show(task, Volatile.Read(ref _progress));
            });
    }

    private void Show(ProgressTask task, EmbeddingWorkerProgress progress)
    {
        ReportErrors(progress);
        var done = progress.Completed + progress.Dead;
        task.MaxValue = Math.Max(1, done + Math.Max(0, progress.Outstanding));
        task.Value = done;
        task.Description = Markup.Escape(Line(progress));
    }
}
