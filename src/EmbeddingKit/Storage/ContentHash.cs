using System.Buffers;
using System.Security.Cryptography;
using System.Text;
using EmbeddingKit.Embedders;
using EmbeddingKit.Runtime;

namespace EmbeddingKit.Storage;

/// <summary>
/// The content hash stored beside each vector, which lets a worker skip the provider for unchanged content. The
/// <see cref="EmbeddingModel"/> overloads hash everything that determines the vector: the document, the model name, the
/// document prefix, the document options (model id, dimensions, extra fields such as <c>input_type</c>), the provider
/// model id and dimensions the generator reports, and the configured dimensions. The <see cref="string"/> overloads are
/// the text-only hash that earlier versions stored (model name and document); the runtime still accepts it as unchanged
/// content, so an upgrade does not re-embed existing rows (see <c>docs/providers.md</c>).
/// </summary>
public static class ContentHash
{
    /// <summary>Computes the hash of a text document for a model: the document and everything that determines its vector.</summary>
    public static byte[] Compute(EmbeddingModel model, string document)
    {
        ArgumentNullException.ThrowIfNull(model);
        return Compute(model.Name, document, model.Fingerprint);
    }

    /// <summary>Computes the hash of a multimodal input for a model: every part and everything that determines its vector.</summary>
    public static byte[] Compute(EmbeddingModel model, MultimodalInput input)
    {
        ArgumentNullException.ThrowIfNull(model);
        return Compute(model.Name, input, model.Fingerprint);
    }

    /// <summary>Computes the text-only hash of a text document for a model name (model name and document).</summary>
    public static byte[] Compute(string model, string document) => Compute(model, document, fingerprint: null);

    /// <summary>Computes the text-only hash of a multimodal input for a model name: every part's kind, media type and bytes.</summary>
    public static byte[] Compute(string model, MultimodalInput input) => Compute(model, input, fingerprint: null);

    private static byte[] Compute(string model, string document, string? fingerprint)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(document);
        fingerprint = fingerprint is null ? null : "\0" + fingerprint;
        var length = Encoding.UTF8.GetMaxByteCount(model.Length + document.Length + 1 + (fingerprint?.Length ?? 0));
        var buffer = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            var written = Encoding.UTF8.GetBytes(model, buffer);
            buffer[written++] = 0;
            written += Encoding.UTF8.GetBytes(document, buffer.AsSpan(written));
            if (fingerprint is not null)
            {
                written += Encoding.UTF8.GetBytes(fingerprint, buffer.AsSpan(written));
            }

            return SHA256.HashData(buffer.AsSpan(0, written));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static byte[] Compute(string model, MultimodalInput input, string? fingerprint)
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

        if (fingerprint is not null)
        {
            hash.AppendData([0xFF]);
            hash.AppendData(Encoding.UTF8.GetBytes(fingerprint));
        }

        return hash.GetHashAndReset();
    }
}
