using System.Text.Json;

namespace EmbeddingKit.Reliability.Tests.Infrastructure;

/// <summary>
/// Where the suite's figures go: the test output, and one JSON line per test appended to
/// <c>reliability-figures.jsonl</c> beside the test assembly (or to <c>EMBEDDINGKIT_RELIABILITY_FIGURES</c>), from which
/// docs/reliability.md is updated.
/// </summary>
public static class Figures
{
    private static readonly Lock Gate = new();

    public static void Report(string test, object figures)
    {
        var json = JsonSerializer.Serialize(new { test, at = DateTimeOffset.UtcNow, figures });
        TestContext.Current.TestOutputHelper?.WriteLine(json);
        var path = Environment.GetEnvironmentVariable("EMBEDDINGKIT_RELIABILITY_FIGURES") is { Length: > 0 } given
            ? given
            : Path.Combine(AppContext.BaseDirectory, "reliability-figures.jsonl");
        lock (Gate)
        {
            File.AppendAllText(path, json + Environment.NewLine);
        }
    }
}
