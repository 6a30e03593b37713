namespace EmbeddingKit.Postgres.Search;

/// <summary>One fused search: results, fusion settings and filters.</summary>
public sealed class HybridSearchOptions
{
    /// <summary>Gets the number of results, 1 to <see cref="VectorSearchDefaults.MaxK"/>. Default <see cref="VectorSearchDefaults.K"/>.</summary>
    public int K { get; init; } = VectorSearchDefaults.K;

    /// <summary>Gets the fusion settings. Default <see cref="HybridSettings.Default"/>.</summary>
    public HybridSettings Settings { get; init; } = HybridSettings.Default;

    /// <summary>Gets the entity type to search (its text search configuration parses the query), or null for every
    /// entity type (the query is parsed with <c>english</c>).</summary>
    public string? EntityType { get; init; }

    /// <summary>Gets an allow-list of entity ids, or null for all; applied to every list.</summary>
    public IReadOnlyCollection<string>? EntityIds { get; init; }

    /// <summary>Gets whether the lexical list ranks only entities the first vector list's model has no vector for (the
    /// fallback for entities not embedded yet). Default false.</summary>
    public bool LexicalOnlyLacking { get; init; }

    /// <summary>Gets how many lexical matches are read at most (never fewer than the lexical depth), or null to rank every
    /// match by score alone. With a limit, a match is ranked first by how many of the query's terms it lacks, then by
    /// score, and matches are read tier by tier (every term, all but one, all but two, any) only until the depth is
    /// filled, so a common word's thousands of matches are not read. Default <see cref="HybridSearchDefaults.LexicalRankLimit"/>.</summary>
    public int? LexicalRankLimit { get; init; } = HybridSearchDefaults.LexicalRankLimit;

    /// <summary>Gets where the host keeps its documents' text, so that each hit carries it (<see cref="HybridSearchHit.Text"/>)
    /// from the same statement; null (the default) for none.</summary>
    public DocumentTextSource? Texts { get; init; }

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> when a setting is out of range.</summary>
    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(K, 1, nameof(K));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(K, VectorSearchDefaults.MaxK, nameof(K));
        ArgumentNullException.ThrowIfNull(Settings, nameof(Settings));
        Settings.Validate();
        if (LexicalRankLimit is { } limit)
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1, nameof(LexicalRankLimit));
        }
    }
}
