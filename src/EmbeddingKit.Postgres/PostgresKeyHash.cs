using System.Text;

namespace EmbeddingKit.Postgres;

/// <summary>
/// The one stable key hash of EmbeddingKit: FNV-1a (64-bit) over the UTF-8 bytes of a text. Every process and version
/// derives the same value, so it names advisory locks (migrations, index builds) and notification channels.
/// </summary>
/// <remarks>Not for security: it is short, fast and predictable by design.</remarks>
public static class PostgresKeyHash
{
    private const ulong OffsetBasis = 14695981039346656037UL;
    private const ulong Prime = 1099511628211UL;

    /// <summary>The 64-bit key of <paramref name="text"/>, as the <c>bigint</c> that <c>pg_advisory_lock</c> takes.</summary>
    public static long Compute(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var hash = OffsetBasis;
        foreach (var b in Encoding.UTF8.GetBytes(text))
        {
            hash = (hash ^ b) * Prime;
        }

        return unchecked((long)hash);
    }
}
