using System.Text.Encodings.Web;
using System.Text.Json;
using EmbeddingKit.Embedders;

namespace EmbeddingKit.OpenAI.Internal;

/// <summary>Writes request bodies with <see cref="Utf8JsonWriter"/> into a pooled buffer.</summary>
internal static class EmbeddingRequestWriter
{
    private static readonly JsonWriterOptions WriterOptions = new()
    {
        // The body is JSON sent to an API, never embedded in HTML: no need to escape non-ASCII text.
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        SkipValidation = true,
    };

    public static void WriteText(PooledByteBufferWriter output, OpenAICompatibleEmbeddingOptions options, string model, int? dimensions, ReadOnlySpan<string> inputs)
    {
        using var writer = new Utf8JsonWriter(output, WriterOptions);
        writer.WriteStartObject();
        writer.WriteString("model"u8, model);
        writer.WriteStartArray("input"u8);
        foreach (var input in inputs)
        {
            writer.WriteStringValue(input);
        }

        writer.WriteEndArray();
        WriteCommon(writer, options, dimensions);
        writer.WriteEndObject();
        writer.Flush();
    }

    public static void WriteMultimodal(PooledByteBufferWriter output, OpenAICompatibleEmbeddingOptions options, string model, int? dimensions, ReadOnlySpan<MultimodalItem> items)
    {
        using var writer = new Utf8JsonWriter(output, WriterOptions);
        writer.WriteStartObject();
        writer.WriteString("model"u8, model);
        writer.WriteStartArray("input"u8);
        foreach (var item in items)
        {
            writer.WriteStartObject();
            if (item.Text is not null)
            {
                writer.WriteString("text"u8, item.Text);
            }
            else
            {
                writer.WriteBase64String("image"u8, item.Image.Span);
            }

            writer.WriteEndObject();
        }

        writer.WriteEndArray();
        WriteCommon(writer, options, dimensions);
        writer.WriteEndObject();
        writer.Flush();
    }

    private static void WriteCommon(Utf8JsonWriter writer, OpenAICompatibleEmbeddingOptions options, int? dimensions)
    {
        writer.WriteString("encoding_format"u8, options.EncodingFormat == EmbeddingEncodingFormat.Base64 ? "base64"u8 : "float"u8);
        if (dimensions is int d)
        {
            writer.WriteNumber(options.DimensionsFieldName, d);
        }

        foreach (var (name, value) in options.ExtraRequestFields)
        {
            writer.WritePropertyName(name);
            if (value is null)
            {
                writer.WriteNullValue();
            }
            else
            {
                value.WriteTo(writer);
            }
        }
    }
}
