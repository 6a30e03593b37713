using System.Runtime.CompilerServices;
using EmbeddingKit.Vectors;
using Microsoft.Extensions.AI;

namespace EmbeddingKit.Embedders;

/// <summary>
/// A deterministic, offline <see cref="IEmbeddingGenerator{TInput, TEmbedding}"/> that needs no model and no network.
/// It uses feature hashing: lowercased word tokens and the character 3- and 4-grams of each word (with word-boundary
/// markers) are hashed into <see cref="Dimensions"/> buckets, each feature signed by a second hash bit, weighted by
/// sublinear term frequency (1 + ln tf), and the vector is L2-normalized.
/// </summary>
/// <remarks>
/// The vectors are <b>lexical, not semantic</b>: texts sharing words and word fragments score high, synonyms do not.
/// The same text always gives the same vector on every machine and version of this class (the hash is a fixed
/// FNV-1a over UTF-16 code units), which makes it the embedder of the offline demo and of tests that need real
/// vectors. It is thread-safe.
/// </remarks>
public sealed class HashingEmbeddingGenerator : IEmbeddingGenerator<string, Embedding<float>>
{
    /// <summary>The default number of dimensions (384).</summary>
    public const int DefaultDimensions = 384;

    private const uint WordSeed = 0x811C9DC5;
    private const uint GramSeed = 0x050C5D1F;
    private const float GramWeight = 0.5f;
    private const int MaxWordLength = 64;

    [ThreadStatic]
    private static Dictionary<uint, int>? t_counts;

    private readonly EmbeddingGeneratorMetadata _metadata;

    /// <summary>Creates a generator producing vectors of <paramref name="dimensions"/> values.</summary>
    /// <param name="dimensions">The number of dimensions, from 2 to 65536; default <see cref="DefaultDimensions"/>.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="dimensions"/> is out of range.</exception>
    public HashingEmbeddingGenerator(int dimensions = DefaultDimensions)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(dimensions, 2);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(dimensions, 65536);
        Dimensions = dimensions;
        ModelId = $"hashing-{dimensions}";
        _metadata = new EmbeddingGeneratorMetadata("embeddingkit-hashing", null, ModelId, dimensions);
    }

    /// <summary>Gets the number of dimensions of every vector.</summary>
    public int Dimensions { get; }

    /// <summary>Gets the model id reported on each embedding, <c>hashing-{dimensions}</c>.</summary>
    public string ModelId { get; }

    /// <summary>Embeds each text. Null, empty or whitespace-only texts are rejected.</summary>
    /// <param name="values">The texts.</param>
    /// <param name="options">Ignored except for <see cref="EmbeddingGenerationOptions.Dimensions"/>, which must equal
    /// <see cref="Dimensions"/> when set.</param>
    /// <param name="cancellationToken">Cancels the work between texts.</param>
    /// <returns>One normalized embedding per text, in order.</returns>
    /// <exception cref="ArgumentException">A text is null, empty or whitespace only, or other dimensions were asked for.</exception>
    public Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(
        IEnumerable<string> values,
        EmbeddingGenerationOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(values);
        if (options?.Dimensions is int asked && asked != Dimensions)
        {
            throw new ArgumentException($"This generator produces {Dimensions} dimensions, not {asked}.", nameof(options));
        }

        var result = values is ICollection<string> collection
            ? new GeneratedEmbeddings<Embedding<float>>(collection.Count)
            : new GeneratedEmbeddings<Embedding<float>>();
        var position = 0;
        foreach (var text in values)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (string.IsNullOrWhiteSpace(text))
            {
                throw new ArgumentException($"Input {position} is null, empty or whitespace only.", nameof(values));
            }

            var vector = new float[Dimensions];
            Embed(text, vector);
            result.Add(new Embedding<float>(vector) { ModelId = ModelId });
            position++;
        }

        return Task.FromResult(result);
    }

    /// <summary>Writes the normalized embedding of <paramref name="text"/> into <paramref name="destination"/>
    /// (exactly <see cref="Dimensions"/> long) without allocating per call.</summary>
    /// <param name="text">The text; must contain a non-whitespace character.</param>
    /// <param name="destination">The vector to overwrite.</param>
    /// <exception cref="ArgumentException">The text is blank or the destination has the wrong length.</exception>
    public void Embed(ReadOnlySpan<char> text, Span<float> destination)
    {
        if (destination.Length != Dimensions)
        {
            throw new ArgumentException($"The destination must have {Dimensions} values.", nameof(destination));
        }

        if (text.IsWhiteSpace())
        {
            throw new ArgumentException("The text is empty or whitespace only.", nameof(text));
        }

        var counts = t_counts ??= new Dictionary<uint, int>(1024);
        counts.Clear();
        CountFeatures(text, counts, lettersAndDigitsOnly: true);
        if (counts.Count == 0)
        {
            CountFeatures(text, counts, lettersAndDigitsOnly: false);
        }

        destination.Clear();
        var dimensions = (uint)Dimensions;
        foreach (var (hash, packed) in counts)
        {
            var tf = packed >> 1;
            var weight = 1f + MathF.Log(tf);
            if ((packed & 1) != 0)
            {
                weight *= GramWeight;
            }

            // Bucket from the low bits (through a multiply-shift), sign from the top bit.
            var bucket = (int)(((ulong)(hash & 0x7FFF_FFFF) * dimensions) >> 31);
            destination[bucket] += (hash & 0x8000_0000) != 0 ? -weight : weight;
        }

        if (!VectorMath.IsValid(destination))
        {
            // Every feature cancelled out (vanishingly rare): fall back to a single signed bucket.
            destination[0] = 1f;
        }

        VectorMath.Normalize(destination);
    }

    /// <inheritdoc />
    public object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        if (serviceKey is not null)
        {
            return null;
        }

        if (serviceType == typeof(EmbeddingGeneratorMetadata))
        {
            return _metadata;
        }

        return serviceType.IsInstanceOfType(this) ? this : null;
    }

    /// <summary>Does nothing: the generator holds no resources.</summary>
    public void Dispose()
    {
    }

    private static void CountFeatures(ReadOnlySpan<char> text, Dictionary<uint, int> counts, bool lettersAndDigitsOnly)
    {
        // Word buffer with room for the '<' and '>' boundary markers.
        Span<char> word = stackalloc char[MaxWordLength + 2];
        var i = 0;
        while (i < text.Length)
        {
            while (i < text.Length && !IsWordChar(text[i], lettersAndDigitsOnly))
            {
                i++;
            }

            var length = 0;
            word[0] = '<';
            while (i < text.Length && IsWordChar(text[i], lettersAndDigitsOnly))
            {
                if (length < MaxWordLength)
                {
                    word[++length] = char.ToLowerInvariant(text[i]);
                }

                i++;
            }

            if (length == 0)
            {
                continue;
            }

            word[length + 1] = '>';
            Add(counts, Fnv1a(word.Slice(1, length), WordSeed), isGram: false);

            var bounded = word[..(length + 2)];
            for (var n = 3; n <= 4; n++)
            {
                for (var start = 0; start + n <= bounded.Length; start++)
                {
                    Add(counts, Fnv1a(bounded.Slice(start, n), GramSeed), isGram: true);
                }
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool IsWordChar(char c, bool lettersAndDigitsOnly) =>
        lettersAndDigitsOnly ? char.IsLetterOrDigit(c) : !char.IsWhiteSpace(c);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Add(Dictionary<uint, int> counts, uint hash, bool isGram)
    {
        // Low bit of the value marks n-grams; the count lives in the other bits.
        ref var slot = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(counts, hash, out var exists);
        slot = exists ? slot + 2 : (isGram ? 3 : 2);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint Fnv1a(ReadOnlySpan<char> value, uint seed)
    {
        var hash = seed;
        foreach (var c in value)
        {
            hash = (hash ^ c) * 16777619u;
        }

        // Final avalanche (murmur3 fmix32) so that bucket and sign bits are well mixed.
        hash ^= hash >> 16;
        hash *= 0x85EB_CA6B;
        hash ^= hash >> 13;
        hash *= 0xC2B2_AE35;
        hash ^= hash >> 16;
        return hash;
    }
}
