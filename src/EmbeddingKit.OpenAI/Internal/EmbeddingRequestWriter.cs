using System.Text.Encodings.Web;
using System.Text.Json;
using System.Globalization;
using System.Text.Json.Nodes;
using EmbeddingKit.Embedders;
using Microsoft.Extensions.AI;

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

    public static void WriteText(PooledByteBufferWriter output, OpenAICompatibleEmbeddingOptions options, string model, int? dimensions, AdditionalPropertiesDictionary? extra, ReadOnlySpan<string> inputs)
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
        WriteCommon(writer, options, dimensions, extra);
        writer.WriteEndObject();
        writer.Flush();
    }

    public static void WriteMultimodal(PooledByteBufferWriter output, OpenAICompatibleEmbeddingOptions options, string model, int? dimensions, AdditionalPropertiesDictionary? extra, ReadOnlySpan<MultimodalItem> items)
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
        WriteCommon(writer, options, dimensions, extra);
        writer.WriteEndObject();
        writer.Flush();
    }

    /// <summary>Writes the format, dimensions and extra fields: the options' <c>ExtraRequestFields</c>, then the call's
    /// <see cref="EmbeddingGenerationOptions.AdditionalProperties"/> (for example <c>input_type = query</c>), which win
    /// over a field of the same name.</summary>
    private static void WriteCommon(Utf8JsonWriter writer, OpenAICompatibleEmbeddingOptions options, int? dimensions, AdditionalPropertiesDictionary? extra)
    {
        writer.WriteString("encoding_format"u8, options.EncodingFormat == EmbeddingEncodingFormat.Base64 ? "base64"u8 : "float"u8);
        if (dimensions is int d)
        {
            writer.WriteNumber(options.DimensionsFieldName, d);
        }

        foreach (var (name, value) in options.ExtraRequestFields)
        {
            if (extra?.ContainsKey(name) == true)
            {
                continue;
            }

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

        if (extra is null)
        {
            return;
        }

        foreach (var (name, value) in extra)
        {
            writer.WritePropertyName(name);
            WriteValue(writer, value);
        }
    }

    private static void WriteValue(Utf8JsonWriter writer, object? value)
    {
        switch (value)
        {
            case null:
                writer.WriteNullValue();
                break;
            case string text:
                writer.WriteStringValue(text);
                break;
            case bool flag:
                writer.WriteBooleanValue(flag);
                break;
            case int or long or short or byte:
                writer.WriteNumberValue(Convert.ToInt64(value, CultureInfo.InvariantCulture));
                break;
            case float or double or decimal:
                writer.WriteNumberValue(Convert.ToDouble(value, CultureInfo.InvariantCulture));
                break;
            case JsonNode node:
                node.WriteTo(writer);
                break;
            case JsonElement element:
                element.WriteTo(writer);
                break;
            default:
                writer.WriteStringValue(Convert.ToString(value, CultureInfo.InvariantCulture));
                break;
        }
    }
}
