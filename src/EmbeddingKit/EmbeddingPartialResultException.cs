using Microsoft.Extensions.AI;

namespace EmbeddingKit;

/// <summary>
/// The provider answered, but some vectors are unusable (NaN, infinity or all zeros). The usable ones are in
/// <see cref="Embeddings"/>; the others are named, by input index, in <see cref="InvalidInputs"/>. Repeating the same
/// input is not expected to help, so those inputs fail permanently while the rest are kept.
/// </summary>
public sealed class EmbeddingPartialResultException : EmbeddingProviderException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">The message.</param>
    /// <param name="embeddings">One entry per input of the call, null where the vector is unusable.</param>
    /// <param name="invalidInputs">The unusable inputs by index, each with what is wrong with its vector.</param>
    public EmbeddingPartialResultException(string message, IReadOnlyList<Embedding<float>?> embeddings, IReadOnlyDictionary<int, string> invalidInputs)
        : base(message)
    {
        ArgumentNullException.ThrowIfNull(embeddings);
        ArgumentNullException.ThrowIfNull(invalidInputs);
        Embeddings = embeddings;
        InvalidInputs = invalidInputs;
    }

    /// <summary>Gets one entry per input of the call: the embedding, or null where the vector is unusable.</summary>
    public IReadOnlyList<Embedding<float>?> Embeddings { get; }

    /// <summary>Gets the inputs whose vectors are unusable, by index, each with the problem.</summary>
    public IReadOnlyDictionary<int, string> InvalidInputs { get; }
}
