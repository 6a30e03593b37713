using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace EmbeddingKit.OpenAI.Internal;

/// <summary>Turns a failed HTTP response into the right typed exception, with the provider's message (never the key).</summary>
internal static partial class ProviderErrors
{
    private const int MaxMessageLength = 500;

    public static EmbeddingProviderException FromStatus(
        in ProviderCallInfo info, ReadOnlySpan<byte> body, TimeSpan? retryAfter, int batchOffset, int batchCount, string? apiKey)
    {
        var providerMessage = Redact(ExtractMessage(body, out var param), apiKey);
        var code = (int)(info.StatusCode ?? 0);
        var text = info.Describe(string.IsNullOrEmpty(providerMessage) ? "request failed" : providerMessage);
        switch (code)
        {
            case 429:
                return new EmbeddingRateLimitedException(text, retryAfter) { Provider = info.Provider, Model = info.Model, StatusCode = info.StatusCode, RequestId = info.RequestId, ProviderMessage = providerMessage };
            case 408:
            case >= 500:
                return new EmbeddingTransientException(text) { Provider = info.Provider, Model = info.Model, StatusCode = info.StatusCode, RequestId = info.RequestId, ProviderMessage = providerMessage, RetryAfter = retryAfter };
            case 400:
            case 422:
                if (NamedInputIndex(providerMessage, batchOffset, batchCount) is null && RejectsRequest(providerMessage, param))
                {
                    // Not an input's fault: a request field or the model's settings. Retrying or bisecting cannot help.
                    return new EmbeddingConfigurationException(info.Describe($"the request was rejected, not an input: {providerMessage}"))
                    { Provider = info.Provider, Model = info.Model, StatusCode = info.StatusCode, RequestId = info.RequestId, ProviderMessage = providerMessage };
                }

                return new EmbeddingBadInputException(text, FindInputIndex(providerMessage, batchOffset, batchCount)) { Provider = info.Provider, Model = info.Model, StatusCode = info.StatusCode, RequestId = info.RequestId, ProviderMessage = providerMessage };
            case 413:
                return new EmbeddingBadInputException(text, FindInputIndex(providerMessage, batchOffset, batchCount)) { Provider = info.Provider, Model = info.Model, StatusCode = info.StatusCode, RequestId = info.RequestId, ProviderMessage = providerMessage };
            case 401:
            case 403:
            case 404:
                return new EmbeddingConfigurationException(text) { Provider = info.Provider, Model = info.Model, StatusCode = info.StatusCode, RequestId = info.RequestId, ProviderMessage = providerMessage };
            case >= 300 and < 400:
                return new EmbeddingConfigurationException(info.Describe("the provider redirected the request; redirects are not followed with credentials, fix BaseUrl"))
                { Provider = info.Provider, Model = info.Model, StatusCode = info.StatusCode, RequestId = info.RequestId, ProviderMessage = providerMessage };
            default:
                return new EmbeddingProviderException(text) { Provider = info.Provider, Model = info.Model, StatusCode = info.StatusCode, RequestId = info.RequestId, ProviderMessage = providerMessage };
        }
    }

    public static EmbeddingTransientException Transient(in ProviderCallInfo info, string what, Exception? inner, string? apiKey) =>
        new(Redact(info.Describe(what), apiKey) ?? what, inner) { Provider = info.Provider, Model = info.Model, StatusCode = info.StatusCode, RequestId = info.RequestId };

    public static string? GetRequestId(HttpResponseMessage response)
    {
        foreach (var name in (ReadOnlySpan<string>)["x-request-id", "request-id", "apim-request-id", "cf-ray"])
        {
            if (response.Headers.TryGetValues(name, out var values))
            {
                foreach (var value in values)
                {
                    return value.Length > 200 ? value[..200] : value;
                }
            }
        }

        return null;
    }

    /// <summary>Best-effort provider message: <c>error.message</c>, <c>error</c>, <c>message</c> or <c>detail</c> of a
    /// JSON body; the title of an HTML page; otherwise the start of the text.</summary>
    public static string? ExtractMessage(ReadOnlySpan<byte> body) => ExtractMessage(body, out _);

    /// <summary>The provider message, and the OpenAI-style <c>error.param</c> (the request field at fault) when given.</summary>
    public static string? ExtractMessage(ReadOnlySpan<byte> body, out string? param)
    {
        param = null;
        if (body.IsEmpty)
        {
            return null;
        }

        var trimmed = body.TrimStart(" \t\r\n"u8);
        if (!trimmed.IsEmpty && trimmed[0] == (byte)'{')
        {
            try
            {
                using var document = JsonDocument.Parse(body.ToArray());
                var root = document.RootElement;
                if (root.TryGetProperty("error", out var error))
                {
                    if (error.ValueKind == JsonValueKind.Object && error.TryGetProperty("param", out var field) && field.ValueKind == JsonValueKind.String)
                    {
                        param = Limit(field.GetString()!);
                    }

                    if (error.ValueKind == JsonValueKind.Object && error.TryGetProperty("message", out var message))
                    {
                        return Limit(message.ToString());
                    }

                    return Limit(error.ToString());
                }

                foreach (var name in (ReadOnlySpan<string>)["message", "detail", "msg"])
                {
                    if (root.TryGetProperty(name, out var value))
                    {
                        return Limit(value.ToString());
                    }
                }
            }
            catch (JsonException)
            {
                // Fall through to plain text.
            }
        }

        var text = Encoding.UTF8.GetString(body[..Math.Min(body.Length, 64 * 1024)]);
        if (text.Contains("<html", StringComparison.OrdinalIgnoreCase) || text.Contains("<!doctype", StringComparison.OrdinalIgnoreCase))
        {
            var match = TitleRegex().Match(text);
            return match.Success ? Limit("HTML error page: " + match.Groups[1].Value.Trim()) : "HTML error page";
        }

        return Limit(text.Trim());
    }

    public static string? Redact(string? text, string? apiKey)
    {
        if (text is null || string.IsNullOrEmpty(apiKey))
        {
            return text;
        }

        return text.Replace(apiKey, "***", StringComparison.Ordinal);
    }

    internal static int? FindInputIndex(string? message, int batchOffset, int batchCount) =>
        batchCount == 1 ? batchOffset : NamedInputIndex(message, batchOffset, batchCount);

    /// <summary>The input the provider's message names (<c>input[3]</c>, <c>index 3</c>), offset into the caller's list.</summary>
    internal static int? NamedInputIndex(string? message, int batchOffset, int batchCount)
    {
        if (message is null)
        {
            return null;
        }

        var match = IndexRegex().Match(message);
        if (match.Success && int.TryParse(match.Groups["n"].Value, NumberStyles.None, CultureInfo.InvariantCulture, out var index) && index < batchCount)
        {
            return batchOffset + index;
        }

        return null;
    }

    /// <summary>Whether a 400 that names no input rejects the request itself: the provider names a request field other
    /// than <c>input</c> (OpenAI's <c>error.param</c>), or says that a field or setting is unknown or unsupported.</summary>
    internal static bool RejectsRequest(string? message, string? param)
    {
        if (!string.IsNullOrWhiteSpace(param))
        {
            return !param.StartsWith("input", StringComparison.OrdinalIgnoreCase);
        }

        return message is not null && RequestFieldRegex().IsMatch(message);
    }

    private static string Limit(string text) => text.Length <= MaxMessageLength ? text : text[..MaxMessageLength] + "…";

    // A provider's message is read in time linear in its length, with no match timeout: a 100 ms timeout, there against
    // backtracking, fired on a two-line message when the machine stalled the thread (two test runs on two cores), and
    // the error left as RegexMatchTimeoutException instead of the typed input error.
    private const RegexOptions Linear = RegexOptions.IgnoreCase | RegexOptions.NonBacktracking;

    [GeneratedRegex(@"unrecognized request argument|unknown (?:field|parameter|argument)|extra (?:inputs|fields) are not permitted|(?:does not|doesn't) support (?:specifying )?(?:dimensions|output_dimension|encoding_format|input_type|the '?\w+'? (?:parameter|field))|\b(?:dimensions|output_dimension|encoding_format|input_type)\b.*\b(?:not supported|unsupported|invalid|must be)", Linear)]
    private static partial Regex RequestFieldRegex();

    [GeneratedRegex(@"<title>(.*?)</title>", Linear | RegexOptions.Singleline)]
    private static partial Regex TitleRegex();

    [GeneratedRegex(@"(?:input|index|item|inputs)\s*(?:\[|#|at\s+index\s+|index\s+|\s)\s*(?<n>\d{1,6})|\[(?<n>\d{1,6})\]", Linear)]
    private static partial Regex IndexRegex();
}
