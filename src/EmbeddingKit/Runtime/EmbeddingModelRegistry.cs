namespace EmbeddingKit.Runtime;

/// <summary>The models this process can embed with, by name. Several can be written at once (dual-write).</summary>
public sealed class EmbeddingModelRegistry
{
    private readonly Dictionary<string, EmbeddingModel> _models = new(StringComparer.Ordinal);

    /// <summary>Creates a registry with the given models.</summary>
    public EmbeddingModelRegistry(params IEnumerable<EmbeddingModel> models)
    {
        ArgumentNullException.ThrowIfNull(models);
        foreach (var model in models)
        {
            Add(model);
        }
    }

    /// <summary>Gets the models, in the order they were added.</summary>
    public IReadOnlyList<EmbeddingModel> Models => [.. _models.Values];

    /// <summary>Gets the names of the models.</summary>
    public IReadOnlyCollection<string> Names => _models.Keys;

    /// <summary>Gets the names of the models new entities are enqueued for by default.</summary>
    public IReadOnlyList<string> WriteModels => [.. _models.Values.Where(m => m.WriteByDefault).Select(m => m.Name)];

    /// <summary>Adds a model; its name must be new.</summary>
    public EmbeddingModelRegistry Add(EmbeddingModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (!_models.TryAdd(model.Name, model))
        {
            throw new ArgumentException($"A model named '{model.Name}' is already registered.", nameof(model));
        }

        return this;
    }

    /// <summary>Finds a model by name.</summary>
    public bool TryGet(string name, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out EmbeddingModel? model) => _models.TryGetValue(name, out model);

    /// <summary>Gets a model by name or throws <see cref="KeyNotFoundException"/> naming it.</summary>
    public EmbeddingModel Get(string name) =>
        _models.TryGetValue(name, out var model) ? model : throw new KeyNotFoundException($"The model '{name}' is not registered in this process.");
}
