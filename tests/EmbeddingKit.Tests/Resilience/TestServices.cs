using Microsoft.Extensions.Logging;

namespace EmbeddingKit.Tests.Resilience;

/// <summary>A hand-written service provider with a clock and a logger factory that keeps what is logged.</summary>
internal sealed class TestServices(TimeProvider time) : IServiceProvider, ILoggerFactory, ILogger
{
    private readonly List<(int EventId, IReadOnlyList<KeyValuePair<string, object?>> Values)> _entries = [];

    public IReadOnlyList<(int EventId, IReadOnlyList<KeyValuePair<string, object?>> Values)> Entries
    {
        get
        {
            lock (_entries)
            {
                return [.. _entries];
            }
        }
    }

    public object? GetService(Type serviceType) =>
        serviceType == typeof(TimeProvider) ? time : serviceType == typeof(ILoggerFactory) ? this : null;

    public double[] Values(int eventId, string name) => Entries
        .Where(e => e.EventId == eventId)
        .Select(e => Convert.ToDouble(e.Values.First(v => v.Key == name).Value, System.Globalization.CultureInfo.InvariantCulture))
        .ToArray();

    public ILogger CreateLogger(string categoryName) => this;

    public void AddProvider(ILoggerProvider provider)
    {
    }

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        var values = state as IReadOnlyList<KeyValuePair<string, object?>> ?? [];
        lock (_entries)
        {
            _entries.Add((eventId.Id, values));
        }
    }

    public void Dispose()
    {
    }
}
