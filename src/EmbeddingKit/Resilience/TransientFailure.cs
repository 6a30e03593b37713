using System.Net.Http;
using EmbeddingKit.Runtime;
using EmbeddingKit.Tasks;

namespace EmbeddingKit.Resilience;

/// <summary>Whether a generator's failure is worth repeating, and the wait the provider asked for: EmbeddingKit's typed
/// exceptions by <see cref="EmbeddingKitException.IsTransient"/>, any other generator's by HTTP status (408, 429, 5xx)
/// or as a network error.</summary>
internal static class TransientFailure
{
    public static bool IsTransient(Exception exception) => exception switch
    {
        OperationCanceledException => false,
        EmbeddingKitException e => e.IsTransient,
        _ => ProviderFailure.HttpStatus(exception) switch
        {
            408 or 429 or >= 500 => true,
            null => exception is HttpRequestException or IOException or TimeoutException,
            _ => false,
        },
    };

    /// <summary>The wait the provider asked for, or null.</summary>
    public static TimeSpan? RequestedWait(Exception exception) => exception switch
    {
        EmbeddingRateLimitedException e => e.RetryAfter,
        EmbeddingTransientException e => e.RetryAfter,
        EmbeddingKitException => null,
        _ => ProviderFailure.Classify(exception) is (TaskFailureKind.RateLimited, { } wait) ? wait : null,
    };
}
