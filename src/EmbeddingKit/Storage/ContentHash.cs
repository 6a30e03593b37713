using System.Buffers;
using System.Security.Cryptography;
using System.Text;

namespace EmbeddingKit.Storage;

/// <summary>The content hash stored beside each vector: SHA-256 of the model name and the UTF-8 document.</summary>
public static class ContentHash
{
    /// <summary>Computes the hash of a text document for a model.</summary>
    public static byte[] Compute(string model, string document)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(document);
        var length = Encoding.UTF8.GetMaxByteCount(model.Length + document.Length + 1);
        var buffer = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            var written = Encoding.UTF8.GetBytes(model, buffer);
            buffer[written++] = 0;
            written += Encoding.UTF8.GetBytes(document, buffer.AsSpan(written));
            return SHA256.HashData(buffer.AsSpan(0, written));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
