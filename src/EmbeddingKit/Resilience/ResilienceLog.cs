using Microsoft.Extensions.Logging;

namespace EmbeddingKit.Resilience;

/// <summary>The log messages of the resilience middleware (event ids 1101-1109).</summary>
internal static partial class ResilienceLog
{
    [LoggerMessage(EventId = 1101, Level = LogLevel.Warning, Message = "Embedding call failed ({Error}); attempt {Attempt} in {DelayMs} ms")]
    public static partial void RetryScheduled(ILogger logger, string error, int attempt, double delayMs);

    [LoggerMessage(EventId = 1102, Level = LogLevel.Debug, Message = "Token budget overdrawn: waiting {DelayMs} ms before sending {Tokens} tokens")]
    public static partial void TokenBudgetWait(ILogger logger, double delayMs, long tokens);
}
