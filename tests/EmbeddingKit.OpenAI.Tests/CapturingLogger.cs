using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace EmbeddingKit.OpenAI.Tests;

/// <summary>A hand-written logger that keeps every entry: its formatted message, structured values and exception.</summary>
public sealed class CapturingLogger : ILogger
{
    private readonly ConcurrentQueue<Entry> _entries = new();

    public IReadOnlyList<Entry> Entries => [.. _entries];

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        var values = state as IReadOnlyList<KeyValuePair<string, object?>> ?? [];
        _entries.Enqueue(new Entry(logLevel, eventId, formatter(state, exception), values.ToDictionary(kv => kv.Key, kv => kv.Value), exception));
    }

    /// <summary>Everything logged, as one text (messages, values and exceptions).</summary>
    public string AllText() => string.Join("\n", Entries.Select(e =>
        $"{e.Message} | {string.Join(", ", e.Values.Select(kv => $"{kv.Key}={kv.Value}"))} | {e.Exception}"));

    public sealed record Entry(LogLevel Level, EventId EventId, string Message, IReadOnlyDictionary<string, object?> Values, Exception? Exception);
}
