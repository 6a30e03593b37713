namespace EmbeddingKit.Onnx.Tests;

/// <summary>Test sentences: 100 distinct ordinary English sentences built from fixed parts (no randomness).</summary>
internal static class Sentences
{
    private static readonly string[] Subjects =
    [
        "The old fisherman", "A young programmer", "My neighbour's cat", "The city council", "Our chemistry teacher",
        "The night train to Vienna", "A small bakery downtown", "The research team", "Her grandmother", "The football club",
    ];

    private static readonly string[] Predicates =
    [
        "repaired the broken fence before the storm arrived.",
        "wrote a compiler for a tiny programming language.",
        "sleeps all afternoon in the warm sunlight.",
        "voted to build a new public library next year.",
        "explained how acids react with metals.",
        "was delayed by heavy snow in the mountains.",
        "sells fresh bread and cinnamon rolls every morning.",
        "published a study on coral reefs and ocean temperature.",
        "knits warm sweaters for the whole family in winter.",
        "won the championship after a dramatic penalty shootout.",
    ];

    /// <summary>Gets the 100 sentences: every subject with every predicate.</summary>
    public static IReadOnlyList<string> All { get; } = [.. Subjects.SelectMany(s => Predicates.Select(p => $"{s} {p}"))];
}
