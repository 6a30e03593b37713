using System.Buffers;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text.Json;
using EmbeddingKit.Embedders;
using EmbeddingKit.Vectors;

namespace EmbeddingKit.TestInfrastructure.FakeProvider;

/// <summary>Builds OpenAI-style embeddings responses and the fake provider's deterministic vectors.</summary>
public static class FakeResponseBodies
{
    /// <summary>Writes an OpenAI-style response body: <c>{"object":"list","data":[…],"model":…,"usage":…}</c>.</summary>
    /// <param name="vectors">The vectors, item <c>i</c> getting index <c>indexes?[i] ?? i</c>.</param>
    /// <param name="base64">Whether vectors are base64 float32 (otherwise JSON number arrays).</param>
    /// <param name="model">The model to report.</param>
    /// <param name="indexes">The index to write for each item; by default its position.</param>
    /// <param name="promptTokens">The prompt tokens to report.</param>
    /// <returns>The UTF-8 body.</returns>
    public static byte[] Create(IReadOnlyList<float[]> vectors, bool base64, string model = "fake-embedding", IReadOnlyList<int>? indexes = null, long promptTokens = 0)
    {
        var body = new ArrayBufferWriter<byte>();
        Write(body, vectors, base64, model, indexes, promptTokens);
        return body.WrittenSpan.ToArray();
    }

    /// <summary>Writes the body of <see cref="Create"/> into <paramref name="output"/> (for example a response's
    /// <c>BodyWriter</c>, so that large bodies are never one large array).</summary>
    /// <param name="output">Where the UTF-8 body goes.</param>
    /// <param name="vectors">The vectors, item <c>i</c> getting index <c>indexes?[i] ?? i</c>.</param>
    /// <param name="base64">Whether vectors are base64 float32 (otherwise JSON number arrays).</param>
    /// <param name="model">The model to report.</param>
    /// <param name="indexes">The index to write for each item; by default its position.</param>
    /// <param name="promptTokens">The prompt tokens to report.</param>
    public static void Write(IBufferWriter<byte> output, IReadOnlyList<float[]> vectors, bool base64, string model = "fake-embedding", IReadOnlyList<int>? indexes = null, long promptTokens = 0)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(vectors);
        using (var writer = new Utf8JsonWriter(output))
        {
            writer.WriteStartObject();
            writer.WriteString("object", "list");
            writer.WriteStartArray("data");
            for (var i = 0; i < vectors.Count; i++)
            {
                writer.WriteStartObject();
                writer.WriteString("object", "embedding");
                writer.WriteNumber("index", indexes?[i] ?? i);
                writer.WritePropertyName("embedding");
                if (base64)
                {
                    writer.WriteBase64StringValue(MemoryMarshal.AsBytes(vectors[i].AsSpan()));
                }
                else
                {
                    writer.WriteStartArray();
                    foreach (var value in vectors[i])
                    {
                        if (float.IsFinite(value))
                        {
                            writer.WriteNumberValue(value);
                        }
                        else
                        {
                            writer.WriteStringValue(value.ToString(System.Globalization.CultureInfo.InvariantCulture));
                        }
                    }

                    writer.WriteEndArray();
                }

                writer.WriteEndObject();
            }

            writer.WriteEndArray();
            writer.WriteString("model", model);
            writer.WriteStartObject("usage");
            writer.WriteNumber("prompt_tokens", promptTokens);
            writer.WriteNumber("total_tokens", promptTokens);
            writer.WriteEndObject();
            writer.WriteEndObject();
        }
    }

    /// <summary>The fake provider's vector for a text: the <see cref="HashingEmbeddingGenerator"/> vector, so tests
    /// can compute the expected result.</summary>
    /// <param name="text">The text.</param>
    /// <param name="dimensions">The dimensions.</param>
    /// <returns>A normalized vector.</returns>
    public static float[] VectorForText(string text, int dimensions)
    {
        var vector = new float[dimensions];
        new HashingEmbeddingGenerator(dimensions).Embed(text, vector);
        return vector;
    }

    /// <summary>The fake provider's vector for an image: seeded from the SHA-256 of its base64 text.</summary>
    /// <param name="base64">The image as the base64 string sent in the request.</param>
    /// <param name="dimensions">The dimensions.</param>
    /// <returns>A normalized vector.</returns>
    public static float[] VectorForImage(string base64, int dimensions)
    {
        var hash = SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(base64 ?? ""));
        return RandomUnitVector(BitConverter.ToInt32(hash, 0), dimensions);
    }

    /// <summary>A reproducible random unit vector.</summary>
    /// <param name="seed">The seed.</param>
    /// <param name="dimensions">The dimensions.</param>
    /// <returns>A normalized vector.</returns>
    public static float[] RandomUnitVector(int seed, int dimensions)
    {
        var random = new Random(seed);
        var vector = new float[dimensions];
        for (var i = 0; i < vector.Length; i++)
        {
            vector[i] = (float)((random.NextDouble() * 2) - 1);
        }

        VectorMath.Normalize(vector);
        return vector;
    }
}
