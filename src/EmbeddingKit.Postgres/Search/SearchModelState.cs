namespace EmbeddingKit.Postgres.Search;

/// <summary>What search reads about an entity type before it runs, in one round trip to the primary
/// (<see cref="SearchModelStore.GetSearchStateAsync"/>), kept by <see cref="ActiveModelCache"/> between changes.</summary>
/// <param name="EntityType">The entity type.</param>
/// <param name="Active">The active model, or null when none was activated.</param>
/// <param name="ActiveSettings">The active model's saved search settings (with none active, the default model's), if any.</param>
/// <param name="PreviousSettings">The previous (fallback) model's saved search settings, if any.</param>
/// <param name="HasPendingWork">Whether the active model (with none active, the default model asked for) has outstanding
/// or dead tasks for the entity type when read: some entities may lack its vector, so search checks which.</param>
public sealed record SearchModelState(
    string EntityType, ActiveModel? Active, ModelSearchSettings? ActiveSettings, ModelSearchSettings? PreviousSettings, bool HasPendingWork)
{
    /// <summary>Gets the entity type's saved fusion settings (<see cref="LexicalIndex.SaveHybridSettingsAsync"/>), or null
    /// when none were saved (hybrid search then fuses with <see cref="HybridSettings.Default"/>).</summary>
    public HybridSettings? Hybrid { get; init; }

    /// <summary>Gets the model the state was read for while none is active (search's default), if any.</summary>
    public string? DefaultModel { get; init; }

    /// <summary>Gets whether some entities may lack the active model's vector: it has pending work, or it was activated
    /// below full coverage. Only then does search look for them (and for fallback hits).</summary>
    public bool MayLackVectors => HasPendingWork || Active is { Coverage: < 1 };

    /// <summary>The saved settings of <paramref name="model"/> when it is the active or the previous model.</summary>
    /// <param name="model">The model.</param>
    /// <param name="settings">Its settings (null when none are saved).</param>
    /// <returns>Whether this state knows the model's settings.</returns>
    public bool TryGetSettings(string model, out ModelSearchSettings? settings)
    {
        if ((Active?.Model ?? DefaultModel) is { } searched && model == searched)
        {
            settings = ActiveSettings;
            return true;
        }

        if (Active?.PreviousModel is { } previous && model == previous)
        {
            settings = PreviousSettings;
            return true;
        }

        settings = null;
        return false;
    }
}
