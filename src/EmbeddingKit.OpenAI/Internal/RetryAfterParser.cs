using System.Globalization;
using System.Net.Http.Headers;

namespace EmbeddingKit.OpenAI.Internal;

/// <summary>Reads the wait a provider asks for: <c>retry-after-ms</c>, <c>Retry-After</c> (seconds or HTTP date),
/// then the OpenAI-style <c>x-ratelimit-reset-requests</c> / <c>x-ratelimit-reset-tokens</c> durations (<c>1s</c>,
/// <c>6m0s</c>, <c>250ms</c>).</summary>
internal static class RetryAfterParser
{
    public static TimeSpan? Read(HttpResponseHeaders headers, DateTimeOffset now)
    {
        if (TryGetFirst(headers, "retry-after-ms", out var ms)
            && double.TryParse(ms, NumberStyles.Float, CultureInfo.InvariantCulture, out var milliseconds)
            && milliseconds >= 0 && double.IsFinite(milliseconds))
        {
            return TimeSpan.FromMilliseconds(Math.Min(milliseconds, TimeSpan.MaxValue.TotalMilliseconds / 2));
        }

        if (TryGetFirst(headers, "Retry-After", out var retryAfter))
        {
            var parsed = ParseRetryAfter(retryAfter, now);
            if (parsed is not null)
            {
                return parsed;
            }
        }

        TimeSpan? reset = null;
        foreach (var name in (ReadOnlySpan<string>)["x-ratelimit-reset-requests", "x-ratelimit-reset-tokens", "x-ratelimit-reset"])
        {
            if (TryGetFirst(headers, name, out var value) && ParseDuration(value) is { } duration && (reset is null || duration > reset))
            {
                reset = duration;
            }
        }

        return reset;
    }

    public static TimeSpan? ParseRetryAfter(string value, DateTimeOffset now)
    {
        value = value.Trim();
        if (long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds))
        {
            return TimeSpan.FromSeconds(Math.Min(seconds, (long)TimeSpan.MaxValue.TotalSeconds / 2));
        }

        if (double.TryParse(value, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var fractional) && double.IsFinite(fractional))
        {
            return TimeSpan.FromSeconds(Math.Min(fractional, TimeSpan.MaxValue.TotalSeconds / 2));
        }

        if (DateTimeOffset.TryParseExact(value, "r", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var date)
            || DateTimeOffset.TryParse(value, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out date))
        {
            var wait = date - now;
            return wait > TimeSpan.Zero ? wait : TimeSpan.Zero;
        }

        return null;
    }

    /// <summary>Parses Go-style durations such as <c>1s</c>, <c>6m0s</c>, <c>1h2m3.5s</c>, <c>250ms</c>, or plain seconds.</summary>
    public static TimeSpan? ParseDuration(string value)
    {
        var text = value.AsSpan().Trim();
        if (text.IsEmpty)
        {
            return null;
        }

        if (double.TryParse(text, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var plainSeconds))
        {
            // A plain number: seconds, unless it looks like a Unix timestamp (then it is not a wait we can use).
            return plainSeconds < 1e9 ? TimeSpan.FromSeconds(plainSeconds) : null;
        }

        double totalMs = 0;
        var i = 0;
        while (i < text.Length)
        {
            var start = i;
            while (i < text.Length && (char.IsAsciiDigit(text[i]) || text[i] == '.'))
            {
                i++;
            }

            if (start == i || !double.TryParse(text[start..i], NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var number))
            {
                return null;
            }

            var unitStart = i;
            while (i < text.Length && char.IsAsciiLetter(text[i]))
            {
                i++;
            }

            var factor = text[unitStart..i] switch
            {
                "ms" => 1d,
                "s" => 1000d,
                "m" => 60_000d,
                "h" => 3_600_000d,
                "us" or "µs" => 0.001,
                "ns" => 0.000001,
                _ => double.NaN,
            };
            if (double.IsNaN(factor))
            {
                return null;
            }

            totalMs += number * factor;
        }

        return TimeSpan.FromMilliseconds(totalMs);
    }

    private static bool TryGetFirst(HttpResponseHeaders headers, string name, out string value)
    {
        if (headers.TryGetValues(name, out var values))
        {
            foreach (var v in values)
            {
                value = v;
                return true;
            }
        }

        value = "";
        return false;
    }
}
