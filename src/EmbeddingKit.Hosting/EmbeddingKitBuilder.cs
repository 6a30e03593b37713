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
    /// <paramref name="configure"/>.</summary>
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
            }).ValidateOnStart();

        Services.AddSingleton<EmbeddingWorker>();
        Services.AddHostedService(sp => sp.GetRequiredService<EmbeddingWorker>());
        return this;
    }

    internal sealed record ModelRegistration(Func<IServiceProvider, EmbeddingModel> Factory);
}
