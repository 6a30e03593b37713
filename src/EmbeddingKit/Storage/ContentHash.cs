using System.Buffers;
using System.Security.Cryptography;
using System.Text;
using EmbeddingKit.Embedders;

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

    /// <summary>Computes the hash of a multimodal input for a model: every part's kind, media type and bytes.</summary>
    public static byte[] Compute(string model, MultimodalInput input)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(input);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(Encoding.UTF8.GetBytes(model));
        Span<byte> header = stackalloc byte[8];
        foreach (var part in input.Parts)
        {
            header.Clear();
            header[0] = (byte)part.Kind;
            BitConverter.TryWriteBytes(header[4..], part.Frames.Count);
            hash.AppendData(header);
            hash.AppendData(Encoding.UTF8.GetBytes((part.MediaType ?? string.Empty) + "\0" + (part.Text ?? string.Empty)));
            hash.AppendData(part.Data.Span);
            foreach (var frame in part.Frames)
            {
                hash.AppendData(frame.Span);
            }
        }

        return hash.GetHashAndReset();
    }
}
