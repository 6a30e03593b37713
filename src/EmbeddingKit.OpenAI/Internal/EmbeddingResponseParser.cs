using System.Buffers;
using System.Buffers.Text;
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text.Json;
using EmbeddingKit.Vectors;

namespace EmbeddingKit.OpenAI.Internal;

/// <summary>
/// Reads an OpenAI-style embeddings response with <see cref="Utf8JsonReader"/> straight from the body bytes. Base64
/// vectors are decoded with <see cref="Base64.DecodeFromUtf8(ReadOnlySpan{byte}, Span{byte}, out int, out int, bool)"/>
/// into the result arrays; float arrays are read too, whatever was asked. Every rule of a valid response is checked.
/// </summary>
internal static class EmbeddingResponseParser
{
    private static readonly JsonReaderOptions ReaderOptions = new() { MaxDepth = 16, CommentHandling = JsonCommentHandling.Disallow };

    /// <summary>Put in the slot of an item whose vector holds NaN, infinity or only zeros: the other vectors are still
    /// good, and only that input fails (see <see cref="IsUnusable"/>).</summary>
    internal static float[] Unusable { get; } = new float[1];

    /// <summary>The problem of an <see cref="Unusable"/> vector, for messages.</summary>
    internal const string UnusableProblem = "the vector holds NaN, infinity or only zeros";

    /// <summary>Gets whether a parsed slot holds <see cref="Unusable"/>.</summary>
    internal static bool IsUnusable(float[]? vector) => ReferenceEquals(vector, Unusable);

    /// <summary>Parses <paramref name="json"/>, putting the vector of item <c>index</c> at <c>destination[index]</c>.</summary>
    /// <param name="json">The response body.</param>
    /// <param name="destination">One slot per input of the request, cleared by the caller.</param>
    /// <param name="expectedDimensions">The requested dimensions, when set.</param>
    /// <param name="info">Names the call in exceptions.</param>
    public static ParsedResponse Parse(ReadOnlySpan<byte> json, Span<float[]?> destination, int? expectedDimensions, in ProviderCallInfo info)
    {
        try
        {
            return ParseCore(json, destination, expectedDimensions, info);
        }
        catch (JsonException ex)
        {
            throw info.ResponseError($"the body is not valid embeddings JSON ({ex.Message})", retryable: true, inner: ex);
        }
        catch (InvalidOperationException ex)
        {
            throw info.ResponseError($"the body is not valid embeddings JSON ({ex.Message})", retryable: true, inner: ex);
        }
    }

    private static ParsedResponse ParseCore(ReadOnlySpan<byte> json, Span<float[]?> destination, int? expectedDimensions, in ProviderCallInfo info)
    {
        var reader = new Utf8JsonReader(json, ReaderOptions);
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
        {
            throw info.ResponseError("the body is not a JSON object", retryable: true);
        }

        var sawData = false;
        var dimensions = 0;
        string? model = null;
        long promptTokens = 0, totalTokens = 0;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("data"u8))
            {
                reader.Read();
                if (reader.TokenType != JsonTokenType.StartArray)
                {
                    throw info.ResponseError("'data' is not an array", retryable: true);
                }

                dimensions = ReadData(ref reader, destination, expectedDimensions, info);
                sawData = true;
            }
            else if (reader.ValueTextEquals("model"u8))
            {
                reader.Read();
                model = reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
                if (reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray)
                {
                    reader.Skip();
                }
            }
            else if (reader.ValueTextEquals("usage"u8))
            {
                reader.Read();
                if (reader.TokenType == JsonTokenType.StartObject)
                {
                    while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                    {
                        var isPrompt = reader.ValueTextEquals("prompt_tokens"u8);
                        var isTotal = reader.ValueTextEquals("total_tokens"u8);
                        reader.Read();
                        if (reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out var count))
                        {
                            if (isPrompt)
                            {
                                promptTokens = count;
                            }
                            else if (isTotal)
                            {
                                totalTokens = count;
                            }
                        }
                        else
                        {
                            reader.Skip();
                        }
                    }
                }
                else
                {
                    reader.Skip();
                }
            }
            else
            {
                reader.Read();
                reader.Skip();
            }
        }

        if (reader.TokenType != JsonTokenType.EndObject)
        {
            throw info.ResponseError("the body is not a JSON object", retryable: true);
        }

        if (!sawData)
        {
            throw info.ResponseError("the body has no 'data' array", retryable: true);
        }

        return new ParsedResponse(promptTokens, totalTokens, model, dimensions);
    }

    private static int ReadData(ref Utf8JsonReader reader, Span<float[]?> destination, int? expectedDimensions, in ProviderCallInfo info)
    {
        var position = 0;
        var seen = 0;
        var dimensions = 0;
        float[]? scratch = null;
        try
        {
            while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
            {
                if (reader.TokenType != JsonTokenType.StartObject)
                {
                    throw info.ResponseError($"item {position} of 'data' is not an object", retryable: true);
                }

                var index = -1;
                float[]? vector = null;
                while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                {
                    if (reader.ValueTextEquals("embedding"u8))
                    {
                        reader.Read();
                        vector = ReadVector(ref reader, ref scratch, position, info);
                    }
                    else if (reader.ValueTextEquals("index"u8))
                    {
                        reader.Read();
                        if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt32(out index) || index < 0)
                        {
                            throw info.ResponseError($"item {position} has an invalid 'index'", retryable: true);
                        }
                    }
                    else
                    {
                        reader.Read();
                        reader.Skip();
                    }
                }

                if (vector is null)
                {
                    throw info.ResponseError($"item {position} has no 'embedding'", retryable: true);
                }

                if (index < 0)
                {
                    index = position;
                }

                if (index >= destination.Length)
                {
                    throw info.ResponseError($"index {index} is out of range for {destination.Length} inputs", retryable: true);
                }

                if (destination[index] is not null)
                {
                    throw info.ResponseError($"index {index} appears more than once", retryable: true);
                }

                if (expectedDimensions is int expected && vector.Length != expected)
                {
                    throw info.ResponseError($"index {index} has {vector.Length} dimensions, {expected} were requested", retryable: false);
                }

                if (dimensions == 0)
                {
                    dimensions = vector.Length;
                }
                else if (vector.Length != dimensions)
                {
                    throw info.ResponseError($"index {index} has {vector.Length} dimensions, others have {dimensions}", retryable: false);
                }

                // One bad vector fails only its input: the slot is marked, the others are kept.
                destination[index] = VectorMath.IsValid(vector) ? vector : Unusable;
                seen++;
                position++;
            }
        }
        finally
        {
            if (scratch is not null)
            {
                ArrayPool<float>.Shared.Return(scratch);
            }
        }

        if (seen != destination.Length)
        {
            throw info.ResponseError($"{seen} embeddings for {destination.Length} inputs", retryable: true);
        }

        return dimensions;
    }

    private static float[] ReadVector(ref Utf8JsonReader reader, ref float[]? scratch, int position, in ProviderCallInfo info)
    {
        if (reader.TokenType == JsonTokenType.String)
        {
            return reader.ValueIsEscaped ? DecodeEscapedBase64(ref reader, position, info) : DecodeBase64(reader.ValueSpan, position, info);
        }

        if (reader.TokenType != JsonTokenType.StartArray)
        {
            throw info.ResponseError($"item {position} has an 'embedding' that is neither a base64 string nor an array", retryable: true);
        }

        scratch ??= ArrayPool<float>.Shared.Rent(4096);
        var count = 0;
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            if (reader.TokenType != JsonTokenType.Number || reader.ValueIsEscaped || !FastFloatParser.TryParse(reader.ValueSpan, out var value))
            {
                throw info.ResponseError($"item {position} has a non-numeric value in 'embedding'", retryable: true);
            }

            if (count == scratch.Length)
            {
                var grown = ArrayPool<float>.Shared.Rent(scratch.Length * 2);
                scratch.AsSpan().CopyTo(grown);
                ArrayPool<float>.Shared.Return(scratch);
                scratch = grown;
            }

            scratch[count++] = value;
        }

        if (count == 0)
        {
            throw info.ResponseError($"item {position} has an empty 'embedding'", retryable: true);
        }

        return scratch.AsSpan(0, count).ToArray();
    }

    private static float[] DecodeEscapedBase64(ref Utf8JsonReader reader, int position, in ProviderCallInfo info)
    {
        // JSON may escape '/' as "\/"; unescape into a pooled buffer first.
        var rented = ArrayPool<byte>.Shared.Rent(reader.ValueSpan.Length);
        try
        {
            var length = reader.CopyString(rented);
            return DecodeBase64(rented.AsSpan(0, length), position, info);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    private static float[] DecodeBase64(ReadOnlySpan<byte> base64, int position, in ProviderCallInfo info)
    {
        var length = base64.Length;
        if (length == 0 || length % 4 != 0)
        {
            throw info.ResponseError($"item {position} has a base64 'embedding' of invalid length", retryable: true);
        }

        var padding = base64[length - 1] == (byte)'=' ? (base64[length - 2] == (byte)'=' ? 2 : 1) : 0;
        var byteCount = (length / 4 * 3) - padding;
        if (byteCount == 0 || byteCount % sizeof(float) != 0)
        {
            throw info.ResponseError($"item {position} has a base64 'embedding' that is not whole float32 values", retryable: true);
        }

        var vector = GC.AllocateUninitializedArray<float>(byteCount / sizeof(float));
        var status = Base64.DecodeFromUtf8(base64, MemoryMarshal.AsBytes(vector.AsSpan()), out _, out var written);
        if (status != OperationStatus.Done || written != byteCount)
        {
            throw info.ResponseError($"item {position} has an invalid base64 'embedding'", retryable: true);
        }

        if (!BitConverter.IsLittleEndian)
        {
            var ints = MemoryMarshal.Cast<float, int>(vector.AsSpan());
            BinaryPrimitives.ReverseEndianness(ints, ints);
        }

        return vector;
    }
}
