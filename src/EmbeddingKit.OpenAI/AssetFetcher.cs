using System.Buffers;
using System.Net;
using System.Net.Sockets;
using EmbeddingKit.Embedders;
using EmbeddingKit.OpenAI.Internal;

namespace EmbeddingKit.OpenAI;

/// <summary>
/// Fetches images by URL for an <see cref="IAssetSource"/>, safely when the URLs came from users or other systems:
/// HTTPS only, no address outside the public internet (checked on every connection, after DNS, so a redirect or a
/// rebinding DNS name cannot reach an internal service), no proxy, no cookies, no credentials, redirects re-checked,
/// the body capped before it is buffered and its type checked. Errors are <see cref="AssetFetchException"/>s that name
/// the URL without its query string (which often carries a signature).
/// </summary>
/// <remarks>EmbeddingKit never fetches a URL by itself: a host calls this from its asset source, or loads assets its
/// own way. Thread-safe; share one instance.</remarks>
public sealed class AssetFetcher : IDisposable
{
    private readonly HttpClient _http;
    private readonly AssetFetcherOptions _options;
    private readonly TimeProvider _timeProvider;

    /// <summary>Creates the fetcher.</summary>
    /// <param name="options">The policy; the safe defaults when null.</param>
    public AssetFetcher(AssetFetcherOptions? options = null)
        : this(options, null)
    {
    }

    /// <summary>Creates the fetcher with a clock for its timeout.</summary>
    /// <param name="options">The policy; the safe defaults when null.</param>
    /// <param name="timeProvider">The clock of <see cref="AssetFetcherOptions.Timeout"/>, or null for
    /// <see cref="TimeProvider.System"/>.</param>
    public AssetFetcher(AssetFetcherOptions? options, TimeProvider? timeProvider)
    {
        _timeProvider = timeProvider ?? TimeProvider.System;
        _options = options ?? new AssetFetcherOptions();
        _options.Validate();
        _http = new HttpClient(new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.All,
            UseProxy = false,
            UseCookies = false,
            PooledConnectionLifetime = TimeSpan.FromMinutes(2),
            ConnectCallback = ConnectAsync,
        })
        {
            Timeout = System.Threading.Timeout.InfiniteTimeSpan,
        };
        _http.DefaultRequestHeaders.UserAgent.ParseAdd(OpenAICompatibleEmbeddingDefaults.UserAgent);
    }

    /// <summary>Fetches an image and returns it as a multimodal part with the media type the server sent.</summary>
    /// <param name="uri">An absolute <c>https</c> URL (<c>http</c> when <see cref="AssetFetcherOptions.AllowHttp"/>).</param>
    /// <param name="cancellationToken">Cancels the fetch.</param>
    /// <returns>The image part.</returns>
    /// <exception cref="AssetFetchException">Refused by the policy, not an image, too large, or the server failed
    /// (<see cref="EmbeddingKitException.IsTransient"/> says whether a retry may help).</exception>
    public async Task<MultimodalContent> FetchImageAsync(Uri uri, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(uri);
        using var timer = new CancellationTokenSource(_options.Timeout, _timeProvider);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timer.Token);
        var current = uri;
        for (var redirects = 0; ; redirects++)
        {
            CheckUri(current);
            using var request = new HttpRequestMessage(HttpMethod.Get, current);
            request.Headers.Accept.ParseAdd("image/*");
            using var response = await SendAsync(request, current, cancellationToken, timeout.Token).ConfigureAwait(false);
            if (IsRedirect(response.StatusCode))
            {
                var location = response.Headers.Location
                    ?? throw new AssetFetchException($"{Describe(current)} answered {(int)response.StatusCode} without a Location.");
                if (redirects >= _options.MaxRedirects)
                {
                    throw new AssetFetchException($"{Describe(uri)} redirected more than {_options.MaxRedirects} time(s).");
                }

                current = location.IsAbsoluteUri ? location : new Uri(current, location);
                continue;
            }

            if (!response.IsSuccessStatusCode)
            {
                var status = (int)response.StatusCode;
                throw new AssetFetchException($"{Describe(current)} answered {status} {response.ReasonPhrase}.", transient: status is >= 500 or 408 or 429);
            }

            var mediaType = response.Content.Headers.ContentType?.MediaType;
            if (mediaType is null || !mediaType.StartsWith("image/", StringComparison.OrdinalIgnoreCase))
            {
                throw new AssetFetchException($"{Describe(current)} is '{mediaType ?? "without a content type"}', not an image.");
            }

            var data = await ReadCappedAsync(response.Content, current, cancellationToken, timeout.Token).ConfigureAwait(false);
            return MultimodalContent.FromImage(data, mediaType.ToLowerInvariant());
        }
    }

    /// <inheritdoc />
    public void Dispose() => _http.Dispose();

    /// <summary>Whether an address is outside the public internet: loopback, private (RFC 1918, unique local), link-local
    /// (cloud metadata services), shared (CGNAT), documentation, benchmarking, multicast, reserved or unspecified.</summary>
    internal static bool IsNonPublic(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        Span<byte> b = stackalloc byte[16];
        if (!address.TryWriteBytes(b, out var length))
        {
            return true;
        }

        if (address.AddressFamily == AddressFamily.InterNetwork && length == 4)
        {
            return b[0] switch
            {
                0 or 10 or 127 => true,
                100 => b[1] is >= 64 and <= 127,
                169 => b[1] == 254,
                172 => b[1] is >= 16 and <= 31,
                192 => b[1] == 168 || (b[1] == 0 && b[2] is 0 or 2) || (b[1] == 88 && b[2] == 99),
                198 => b[1] is 18 or 19 || (b[1] == 51 && b[2] == 100),
                203 => b[1] == 0 && b[2] == 113,
                >= 224 => true,
                _ => false,
            };
        }

        if (address.AddressFamily != AddressFamily.InterNetworkV6 || length != 16)
        {
            return true;
        }

        if (address.Equals(IPAddress.IPv6Any) || address.Equals(IPAddress.IPv6Loopback)
            || address.IsIPv6LinkLocal || address.IsIPv6SiteLocal || address.IsIPv6Multicast || address.IsIPv6UniqueLocal)
        {
            return true;
        }

        // 64:ff9b::/96 (NAT64) carries an IPv4 address: judge that one.
        if (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b && b[4..12].IndexOfAnyExcept((byte)0) < 0)
        {
            return IsNonPublic(new IPAddress(b[12..16]));
        }

        // ::/96 (IPv4-compatible, deprecated) and 2001:db8::/32 (documentation).
        return b[..12].IndexOfAnyExcept((byte)0) < 0 || (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8);
    }

    private static bool IsRedirect(HttpStatusCode status) => status is HttpStatusCode.MovedPermanently or HttpStatusCode.Found
        or HttpStatusCode.SeeOther or HttpStatusCode.TemporaryRedirect or HttpStatusCode.PermanentRedirect;

    /// <summary>The URL without user info and query string, for messages.</summary>
    private static string Describe(Uri uri) => uri.IsAbsoluteUri ? uri.GetLeftPart(UriPartial.Path) : "(a relative URL)";

    private void CheckUri(Uri uri)
    {
        if (!uri.IsAbsoluteUri)
        {
            throw new AssetFetchException("Asset URLs must be absolute.");
        }

        var https = uri.Scheme == Uri.UriSchemeHttps;
        if (!https && !(uri.Scheme == Uri.UriSchemeHttp && _options.AllowHttp))
        {
            throw new AssetFetchException($"{Describe(uri)}: the scheme '{uri.Scheme}' is not allowed (https{(_options.AllowHttp ? " or http" : string.Empty)} only).");
        }

        if (!string.IsNullOrEmpty(uri.UserInfo))
        {
            throw new AssetFetchException($"{Describe(uri)}: URLs with credentials are not fetched.");
        }

        if (!_options.AllowPrivateNetworks && IPAddress.TryParse(uri.IdnHost, out var literal) && IsNonPublic(literal))
        {
            throw new AssetFetchException($"{Describe(uri)}: {literal} is not a public address; set AllowPrivateNetworks to fetch from it.");
        }
    }

    private async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, Uri uri, CancellationToken cancellationToken, CancellationToken timeout)
    {
        try
        {
            return await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout).ConfigureAwait(false);
        }
        catch (HttpRequestException e) when (e.InnerException is AssetFetchException refused)
        {
            throw refused;
        }
        catch (HttpRequestException e)
        {
            throw new AssetFetchException($"{Describe(uri)} could not be fetched: {e.Message}", transient: true, e);
        }
        catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested)
        {
            throw new AssetFetchException($"{Describe(uri)} did not answer within {_options.Timeout.TotalSeconds:0.#} s.", transient: true, e);
        }
    }

    private async Task<byte[]> ReadCappedAsync(HttpContent content, Uri uri, CancellationToken cancellationToken, CancellationToken timeout)
    {
        (byte[] Buffer, int Length)? body;
        try
        {
            body = await CappedBody.ReadAsync(content, _options.MaxBytes, timeout).ConfigureAwait(false);
        }
        catch (IOException e)
        {
            throw new AssetFetchException($"{Describe(uri)} could not be read: {e.Message}", transient: true, e);
        }
        catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested)
        {
            throw new AssetFetchException($"{Describe(uri)} did not arrive within {_options.Timeout.TotalSeconds:0.#} s.", transient: true, e);
        }

        if (body is not var (buffer, length))
        {
            throw new AssetFetchException($"{Describe(uri)} is over the limit of {_options.MaxBytes} bytes.");
        }

        try
        {
            return length == 0
                ? throw new AssetFetchException($"{Describe(uri)} is empty.")
                : buffer.AsSpan(0, length).ToArray();
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Every connection, the first and each after a redirect: resolve, refuse non-public addresses unless
    /// allowed, and connect to exactly the addresses checked (no second lookup that a rebinding DNS could answer
    /// differently).</summary>
    private async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken)
    {
        var host = context.DnsEndPoint.Host;
        IPAddress[] addresses;
        try
        {
            addresses = IPAddress.TryParse(host, out var literal) ? [literal] : await Dns.GetHostAddressesAsync(host, cancellationToken).ConfigureAwait(false);
        }
        catch (SocketException e)
        {
            throw new AssetFetchException($"{host} does not resolve: {e.Message}", transient: true, e);
        }

        if (addresses.Length == 0)
        {
            throw new AssetFetchException($"{host} does not resolve.", transient: true);
        }

        if (!_options.AllowPrivateNetworks && Array.Find(addresses, IsNonPublic) is { } refused)
        {
            throw new AssetFetchException($"{host} resolves to {refused}, which is not a public address; set AllowPrivateNetworks to fetch from it.");
        }

        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(addresses, context.DnsEndPoint.Port, cancellationToken).ConfigureAwait(false);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }
}
