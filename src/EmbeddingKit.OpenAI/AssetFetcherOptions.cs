namespace EmbeddingKit.OpenAI;

/// <summary>Options of <see cref="AssetFetcher"/>. The defaults are for URLs that came from users or other systems:
/// HTTPS only, public addresses only, 20 MB, 30 s, three redirects.</summary>
public sealed class AssetFetcherOptions
{
    /// <summary>Gets whether addresses in private, loopback, link-local and other non-public ranges may be fetched.
    /// Default <see langword="false"/>: a URL that names or resolves to one (for example the cloud metadata service at
    /// 169.254.169.254, or a database on 10.0.0.5) is refused before any connection is made.</summary>
    public bool AllowPrivateNetworks { get; init; }

    /// <summary>Gets whether plain <c>http</c> URLs may be fetched. Default <see langword="false"/> (HTTPS only).</summary>
    public bool AllowHttp { get; init; }

    /// <summary>Gets the largest asset read, in bytes; a larger one is refused without being buffered. Default 20 MB.</summary>
    public long MaxBytes { get; init; } = 20 * 1024 * 1024;

    /// <summary>Gets the time allowed for one fetch, redirects included. Default 30 s.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Gets the redirects followed; each target is checked like the first URL. Default 3; 0 refuses redirects.</summary>
    public int MaxRedirects { get; init; } = 3;

    /// <summary>Throws when a value is out of range.</summary>
    /// <exception cref="ArgumentException">A value is out of range.</exception>
    public void Validate()
    {
        if (MaxBytes is < 1 or > int.MaxValue)
        {
            throw new ArgumentException("MaxBytes must be between 1 and 2 GiB.");
        }

        if (Timeout <= TimeSpan.Zero)
        {
            throw new ArgumentException("Timeout must be positive.");
        }

        if (MaxRedirects is < 0 or > 20)
        {
            throw new ArgumentException("MaxRedirects must be between 0 and 20.");
        }
    }
}
