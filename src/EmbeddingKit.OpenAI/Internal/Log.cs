using Microsoft.Extensions.Logging;

namespace EmbeddingKit.OpenAI.Internal;

/// <summary>Every log event of the OpenAI-compatible client. Never logs the API key; texts and vectors not at all.</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 3001, Level = LogLevel.Debug, Message = "Embedding request to {Provider} model {Model}: {InputCount} inputs, attempt {Attempt}")]
    public static partial void RequestStarting(ILogger logger, string provider, string model, int inputCount, int attempt);

    [LoggerMessage(EventId = 3002, Level = LogLevel.Debug, Message = "Embedding response from {Provider}: HTTP {StatusCode}, {Bytes} bytes, request id {RequestId}")]
    public static partial void ResponseReceived(ILogger logger, string provider, int statusCode, int bytes, string? requestId);

    [LoggerMessage(EventId = 3003, Level = LogLevel.Warning, Message = "Embedding request to {Provider} failed (attempt {Attempt}): {Error}; retrying in {DelayMs} ms")]
    public static partial void RetryScheduled(ILogger logger, string provider, int attempt, string error, double delayMs);

    [LoggerMessage(EventId = 3004, Level = LogLevel.Warning, Message = "Embedding request to {Provider} failed: {ExceptionType} HTTP {StatusCode}, request id {RequestId}: {Error}")]
    public static partial void RequestFailed(ILogger logger, string provider, string exceptionType, int? statusCode, string? requestId, string error);

    [LoggerMessage(EventId = 3005, Level = LogLevel.Information, Message = "Input {Position} truncated from {Tokens} tokens to the limit of {Limit}")]
    public static partial void InputTruncated(ILogger logger, int position, int tokens, int limit);
}
