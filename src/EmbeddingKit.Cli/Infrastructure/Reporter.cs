using System.Diagnostics;
using System.Globalization;

namespace EmbeddingKit.Cli.Infrastructure;

/// <summary>
/// Where a command's human-readable lines go: stdout normally, stderr when stdout carries a <c>--json</c> document.
/// </summary>
internal sealed class Reporter
{
    public Reporter(bool json)
    {
        Json = json;
    }

    public bool Json { get; }

    public TextWriter Writer => Json ? Console.Error : Console.Out;

    /// <summary>Whether a live Spectre.Console display may be drawn: a terminal on stdout and no JSON.</summary>
    public bool Interactive => !Json && !Console.IsOutputRedirected && Spectre.Console.AnsiConsole.Profile.Capabilities.Interactive;

    public void Line(string text) => Writer.WriteLine(text);

    /// <summary>Prints <c>[step] text</c>, runs the step and prints how long it took.</summary>
    public async Task<T> StepAsync<T>(string step, string text, Func<Task<T>> action, Func<T, string>? summary = null)
    {
        Line($"[{step}] {text}");
        var watch = Stopwatch.StartNew();
        var result = await action();
        var detail = summary?.Invoke(result);
        Line($"      {(string.IsNullOrEmpty(detail) ? "done" : detail)} ({Seconds(watch.Elapsed)})");
        return result;
    }

    public static string Seconds(TimeSpan elapsed) => elapsed.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture) + " s";
}
