using System.Buffers;

namespace EmbeddingKit.OpenAI.Internal;

/// <summary>Reads HTTP bodies into pooled buffers without ever holding more than a cap (declared or streamed).</summary>
internal static class CappedBody
{
    /// <summary>Reads the body, or returns null as soon as it is known to be over <paramref name="max"/> bytes (from
    /// its Content-Length, or while it streams). The buffer goes back to <see cref="ArrayPool{T}.Shared"/> with the
    /// caller.</summary>
    public static async ValueTask<(byte[] Buffer, int Length)?> ReadAsync(HttpContent content, long max, CancellationToken cancellationToken)
    {
        var declared = content.Headers.ContentLength;
        if (declared > max)
        {
            return null;
        }

        var buffer = ArrayPool<byte>.Shared.Rent((int)Math.Min(declared is long d and > 0 ? d + 1 : 64 * 1024, max + 1));
        var length = 0;
        try
        {
            var stream = await content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
            await using (stream.ConfigureAwait(false))
            {
                while (true)
                {
                    if (length == buffer.Length)
                    {
                        var grown = ArrayPool<byte>.Shared.Rent((int)Math.Min(Math.Min(max + 1, (long)buffer.Length * 2), Array.MaxLength));
                        buffer.AsSpan(0, length).CopyTo(grown);
                        ArrayPool<byte>.Shared.Return(buffer);
                        buffer = grown;
                    }

                    var read = await stream.ReadAsync(buffer.AsMemory(length), cancellationToken).ConfigureAwait(false);
                    if (read == 0)
                    {
                        return (buffer, length);
                    }

                    length += read;
                    if (length > max)
                    {
                        ArrayPool<byte>.Shared.Return(buffer);
                        return null;
                    }
                }
            }
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(buffer);
            throw;
        }
    }
}
