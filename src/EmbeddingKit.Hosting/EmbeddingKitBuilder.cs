using EmbeddingKit.Runtime;
using Microsoft.Extensions.DependencyInjection;

namespace EmbeddingKit.Hosting;

/// <summary>
/// Registers EmbeddingKit's parts: models, the host's document builder, storage and the worker. Returned by
/// <see cref="EmbeddingKitServiceCollectionExtensions.AddEmbeddingKit(IServiceCollection)"/>; storage and queue
/// packages (EmbeddingKit.Postgres: <c>UsePostgres</c>) add their own extension methods to it.
/// </summary>
public sealed class EmbeddingKitBuilder
{
    internal EmbeddingKitBuilder(IServiceCollection services) => Services = services;

    /// <summary>Gets the service collection.</summary>
    public IServiceCollection Services { get; }

    /// <summary>Adds a model, created from the service provider when the registry is first needed.</summary>
    public EmbeddingKitBuilder AddModel(Func<IServiceProvider, EmbeddingModel> factory)
    {
        ArgumentNullException.ThrowIfNull(factory);
        Services.AddSingleton(new ModelRegistration(factory));
        return this;
    }

    /// <summary>Adds a model.</summary>
    public EmbeddingKitBuilder AddModel(EmbeddingModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        return AddModel(_ => model);
    }

    /// <summary>Uses the host's document builder, resolved from the container.</summary>
    public EmbeddingKitBuilder UseDocumentBuilder<TBuilder>()
        where TBuilder : class, IDocumentBuilder
    {
        Services.AddSingleton<IDocumentBuilder, TBuilder>();
        return this;
    }

    /// <summary>Uses the given document builder.</summary>
    public EmbeddingKitBuilder UseDocumentBuilder(IDocumentBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        Services.AddSingleton(builder);
        return this;
    }

    /// <summary>Uses the host's asset source for multimodal tasks, resolved from the container.</summary>
    public EmbeddingKitBuilder UseAssetSource<TSource>()
        where TSource : class, Embedders.IAssetSource
    {
        Services.AddSingleton<Embedders.IAssetSource, TSource>();
        return this;
    }

    /// <summary>Runs the background worker in this process, with options bound from <c>EmbeddingKit:Worker</c> and then
    /// <paramref name="configure"/>. The worker is also registered as itself, so a host can read its
    /// <see cref="EmbeddingWorker.Progress"/> or subscribe to <see cref="EmbeddingWorker.ProgressChanged"/>.</summary>
    public EmbeddingKitBuilder AddWorker(Action<EmbeddingWorkerOptions>? configure = null)
    {
        var options = Services.AddOptions<EmbeddingWorkerOptions>().BindConfiguration(EmbeddingWorkerOptions.SectionName);
        if (configure is not null)
        {
            options.Configure(configure);
        }

        options.Validate(
            o =>
            {
                o.Validate();
                return true;
            })
            .Validate<IServiceProvider>(
                (_, sp) => sp.GetService<IDocumentBuilder>() is not null || sp.GetService<Tasks.IEmbeddingTaskHandler>() is not EmbeddingRuntime,
                "The worker processes tasks through the runtime, which needs a document builder: call UseDocumentBuilder(...).")
            .ValidateOnStart();

        Services.AddSingleton<EmbeddingWorker>();
        Services.AddHostedService(sp => sp.GetRequiredService<EmbeddingWorker>());
        return this;
    }

    internal sealed record ModelRegistration(Func<IServiceProvider, EmbeddingModel> Factory);
}
