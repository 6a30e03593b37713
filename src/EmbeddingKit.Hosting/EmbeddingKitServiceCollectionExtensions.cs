using EmbeddingKit.Embedders;
using EmbeddingKit.Hosting;
using EmbeddingKit.Runtime;
using EmbeddingKit.Storage;
using EmbeddingKit.Tasks;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Adds EmbeddingKit to a service collection.</summary>
public static class EmbeddingKitServiceCollectionExtensions
{
    /// <summary>
    /// Adds the model registry and the runtime (<see cref="EmbeddingRuntime"/>, also as <see cref="IEmbeddingTaskHandler"/>)
    /// and returns a builder to register models, the document builder, storage, the queue and the worker.
    /// </summary>
    /// <remarks>The document builder is needed only to process tasks: a host that only searches or enqueues may leave it
    /// out (<see cref="EmbeddingKitBuilder.AddWorker"/> refuses to start without one).</remarks>
    public static EmbeddingKitBuilder AddEmbeddingKit(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.TryAddSingleton(sp => new EmbeddingModelRegistry(sp.GetServices<EmbeddingKitBuilder.ModelRegistration>().Select(r => r.Factory(sp))));
        services.TryAddSingleton(sp => new EmbeddingRuntime(
            sp.GetRequiredService<EmbeddingModelRegistry>(),
            sp.GetService<IDocumentBuilder>() ?? MissingDocumentBuilder.Instance,
            sp.GetRequiredService<IEmbeddingStorage>(),
            sp.GetService<IEmbeddingTaskQueue>(),
            sp.GetService<ILogger<EmbeddingRuntime>>(),
            sp.GetService<IAssetSource>()));
        services.TryAddSingleton<IEmbeddingTaskHandler>(sp => sp.GetRequiredService<EmbeddingRuntime>());
        services.TryAddSingleton(TimeProvider.System);
        return new EmbeddingKitBuilder(services);
    }

    /// <summary>Adds EmbeddingKit and configures it.</summary>
    public static IServiceCollection AddEmbeddingKit(this IServiceCollection services, Action<EmbeddingKitBuilder> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        configure(services.AddEmbeddingKit());
        return services;
    }
}
