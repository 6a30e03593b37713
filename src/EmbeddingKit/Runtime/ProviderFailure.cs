using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Net.Http;
using System.Reflection;
using EmbeddingKit.Tasks;

namespace EmbeddingKit.Runtime;

/// <summary>
/// What a generator's exception means for the tasks of the call, whichever generator threw it: EmbeddingKit's typed
/// exceptions first, then the HTTP status wherever it can be read (<see cref="HttpRequestException.StatusCode"/>,
/// <c>System.ClientModel.ClientResultException.Status</c> of the OpenAI SDK behind Microsoft.Extensions.AI.OpenAI),
/// through inner exceptions.
/// </summary>
internal static class ProviderFailure
{
    private const string ClientResultExceptionName = "System.ClientModel.ClientResultException";
    private const int MaxDepth = 6;

    /// <summary>Gets whether the exception rejects inputs without naming one the caller can use: a bad-input exception
    /// (the caller has already used an index within its chunk), an argument exception, or an HTTP 400, 413 or 422 from
    /// another generator.</summary>
    public static bool IsUnlocatedInputError(Exception e) => e switch
    {
        EmbeddingBadInputException => true,
        ArgumentException => true,
        EmbeddingKitException => false,
        _ => HttpStatus(e) is 400 or 413 or 422,
    };

    /// <summary>Classifies an exception that is not an input error.</summary>
    public static (TaskFailureKind Kind, TimeSpan? RetryAfter) Classify(Exception e)
    {
        switch (e)
        {
            case EmbeddingRateLimitedException limited:
                return (TaskFailureKind.RateLimited, limited.RetryAfter);
            case EmbeddingConfigurationException:
            case EmbeddingResponseException { Retryable: false }:
                return (TaskFailureKind.Configuration, null);
            case EmbeddingTransientException transient:
                return (TaskFailureKind.Retryable, transient.RetryAfter);
            case EmbeddingKitException:
                return (TaskFailureKind.Retryable, null);
        }

        return HttpStatus(e) switch
        {
            429 => (TaskFailureKind.RateLimited, RetryAfter(e)),
            401 or 403 or 404 => (TaskFailureKind.Configuration, null),
            400 or 413 or 422 => (TaskFailureKind.Permanent, null),
            _ => (TaskFailureKind.Retryable, null),
        };
    }

    /// <summary>Gets whether two failures of disjoint inputs are the same error (same type, status and message), which
    /// means the request was rejected, not an input.</summary>
    public static bool SameError(Exception a, Exception b) =>
        a.GetType() == b.GetType()
        && HttpStatus(a) == HttpStatus(b)
        && string.Equals(ProviderMessage(a), ProviderMessage(b), StringComparison.Ordinal);

    /// <summary>Gets the HTTP status code the exception (or one it wraps) carries, if any.</summary>
    public static int? HttpStatus(Exception e)
    {
        var current = (Exception?)e;
        for (var depth = 0; current is not null && depth < MaxDepth; current = current.InnerException, depth++)
        {
            switch (current)
            {
                case EmbeddingProviderException { StatusCode: { } code }:
                    return (int)code;
                case HttpRequestException { StatusCode: { } status }:
                    return (int)status;
            }

            if (ClientResult.Status(current) is int clientStatus and > 0)
            {
                return clientStatus;
            }
        }

        return null;
    }

    private static string ProviderMessage(Exception e) => e is EmbeddingProviderException { ProviderMessage: { } message } ? message : e.Message;

    private static TimeSpan? RetryAfter(Exception e)
    {
        var current = (Exception?)e;
        for (var depth = 0; current is not null && depth < MaxDepth; current = current.InnerException, depth++)
        {
            if (ClientResult.Header(current, "retry-after-ms") is { } ms
                && double.TryParse(ms, NumberStyles.Float, CultureInfo.InvariantCulture, out var milliseconds) && double.IsFinite(milliseconds) && milliseconds >= 0)
            {
                return TimeSpan.FromMilliseconds(Math.Min(milliseconds, TimeSpan.FromDays(1).TotalMilliseconds));
            }

            if (ClientResult.Header(current, "Retry-After") is { } seconds
                && double.TryParse(seconds, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && double.IsFinite(value) && value >= 0)
            {
                return TimeSpan.FromSeconds(Math.Min(value, TimeSpan.FromDays(1).TotalSeconds));
            }
        }

        return null;
    }

    /// <summary>Reads <c>ClientResultException</c> (System.ClientModel, used by the OpenAI SDK) without referencing it:
    /// its public <c>Status</c> and the headers of <c>GetRawResponse()</c>.</summary>
    private static class ClientResult
    {
        [UnconditionalSuppressMessage("Trimming", "IL2075", Justification = "Public members of a public type, kept by the DynamicDependency below when System.ClientModel is present; when trimmed away the status is simply unknown.")]
        [DynamicDependency(DynamicallyAccessedMemberTypes.PublicProperties | DynamicallyAccessedMemberTypes.PublicMethods, ClientResultExceptionName, "System.ClientModel")]
        public static int? Status(Exception e)
        {
            if (!IsClientResult(e))
            {
                return null;
            }

            return e.GetType().GetProperty("Status", BindingFlags.Public | BindingFlags.Instance)?.GetValue(e) as int?;
        }

        [UnconditionalSuppressMessage("Trimming", "IL2075", Justification = "Public members of public System.ClientModel types; when trimmed away the header is simply unknown.")]
        public static string? Header(Exception e, string name)
        {
            if (!IsClientResult(e))
            {
                return null;
            }

            var response = e.GetType().GetMethod("GetRawResponse", BindingFlags.Public | BindingFlags.Instance, Type.EmptyTypes)?.Invoke(e, null);
            var headers = response?.GetType().GetProperty("Headers", BindingFlags.Public | BindingFlags.Instance)?.GetValue(response);
            var tryGet = headers?.GetType().GetMethod("TryGetValue", BindingFlags.Public | BindingFlags.Instance, [typeof(string), typeof(string).MakeByRefType()]);
            if (tryGet is null)
            {
                return null;
            }

            object?[] arguments = [name, null];
            return tryGet.Invoke(headers, arguments) is true ? arguments[1] as string : null;
        }

        private static bool IsClientResult(Exception e)
        {
            for (var type = e.GetType(); type is not null && type != typeof(Exception); type = type.BaseType)
            {
                if (type.FullName == ClientResultExceptionName)
                {
                    return true;
                }
            }

            return false;
        }
    }
}
