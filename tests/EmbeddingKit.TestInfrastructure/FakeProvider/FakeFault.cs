namespace EmbeddingKit.TestInfrastructure.FakeProvider;

/// <summary>A misbehaviour the <see cref="FakeEmbeddingServer"/> can show on a request.</summary>
public enum FakeFault
{
    /// <summary>Answer normally.</summary>
    None = 0,

    /// <summary>HTTP 429 with <see cref="FakeEmbeddingServer.RetryAfterHeaderName"/> set to <see cref="FakeEmbeddingServer.RetryAfterValue"/>.</summary>
    RateLimited,

    /// <summary>HTTP 500 with an OpenAI-style error body.</summary>
    InternalServerError,

    /// <summary>HTTP 503 with an OpenAI-style error body (and the Retry-After header).</summary>
    ServiceUnavailable,

    /// <summary>HTTP 408.</summary>
    RequestTimeout,

    /// <summary>HTTP 502 with an HTML page, as a proxy sends.</summary>
    HtmlErrorPage,

    /// <summary>HTTP 400 naming input 1 as too long.</summary>
    BadRequest,

    /// <summary>HTTP 401.</summary>
    Unauthorized,

    /// <summary>HTTP 403.</summary>
    Forbidden,

    /// <summary>HTTP 404 (unknown model).</summary>
    NotFound,

    /// <summary>Abort the connection without a response.</summary>
    ConnectionReset,

    /// <summary>Never answer (until the client gives up).</summary>
    Hang,

    /// <summary>HTTP 200 with the valid body cut in half.</summary>
    TruncatedJson,

    /// <summary>HTTP 200 with a body that is not JSON.</summary>
    MalformedJson,

    /// <summary>HTTP 200 with vectors one dimension short.</summary>
    WrongDimensions,

    /// <summary>HTTP 200 with a NaN in the first vector.</summary>
    NaN,

    /// <summary>HTTP 200 with the last item missing.</summary>
    FewerItems,

    /// <summary>HTTP 200 with items in reverse order (still valid: indexes are right).</summary>
    ShuffledIndexes,

    /// <summary>HTTP 200 where the last item repeats the first index.</summary>
    DuplicateIndex,

    /// <summary>HTTP 200 with an all-zero first vector.</summary>
    ZeroVector,

    /// <summary>HTTP 307 redirecting to another origin (a client must not follow it with its credentials).</summary>
    Redirect,
}
