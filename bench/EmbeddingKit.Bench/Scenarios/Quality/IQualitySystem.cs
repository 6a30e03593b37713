namespace EmbeddingKit.Bench.Scenarios.Quality;

/// <summary>
/// One retrieval system the <c>quality</c> scenario evaluates on the same pairs: it indexes the documents once, then
/// answers each query on each of its paths (for vector systems: exact and two-stage). Hybrid search and chunking add
/// their own systems to <see cref="QualityScenario"/>'s list.
/// </summary>
internal interface IQualitySystem
{
    /// <summary>Gets the system name used in metric names (letters, digits, <c>-</c>).</summary>
    string Name { get; }

    /// <summary>Gets the search paths this system answers on (for example <c>exact</c>, <c>two_stage</c>).</summary>
    IReadOnlyList<string> Paths { get; }

    /// <summary>Indexes the documents of <paramref name="pairs"/> under their ids.</summary>
    Task PrepareAsync(QualityContext context, IReadOnlyList<QualityPair> pairs, CancellationToken cancellationToken);

    /// <summary>Whether the pair at <paramref name="index"/> is scored (a system that tunes on some queries leaves them
    /// out of its own scores). Default: all.</summary>
    bool Evaluates(int index) => true;

    /// <summary>The ids of the best <paramref name="k"/> documents for <paramref name="query"/> on <paramref name="path"/>, best first.</summary>
    Task<IReadOnlyList<string>> SearchAsync(string path, string query, int k, CancellationToken cancellationToken);
}
