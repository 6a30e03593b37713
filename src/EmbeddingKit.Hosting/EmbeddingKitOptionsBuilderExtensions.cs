using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace EmbeddingKit.Hosting;

/// <summary>Binds EmbeddingKit's options from a configuration section when the container has a configuration (a host
/// built with <c>Host.CreateApplicationBuilder</c>), and leaves the defaults otherwise (a plain
/// <see cref="ServiceCollection"/>, as a command-line tool or a test builds).</summary>
public static class EmbeddingKitOptionsBuilderExtensions
{
    /// <summary>Binds <typeparamref name="TOptions"/> from <paramref name="sectionName"/> of the registered
    /// <see cref="IConfiguration"/>, if any.</summary>
    /// <typeparam name="TOptions">The options type.</typeparam>
    /// <param name="builder">The options builder.</param>
    /// <param name="sectionName">The section, such as <c>EmbeddingKit:Worker</c>.</param>
    /// <returns>The options builder.</returns>
    public static OptionsBuilder<TOptions> BindEmbeddingKitSection<TOptions>(this OptionsBuilder<TOptions> builder, string sectionName)
        where TOptions : class
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrWhiteSpace(sectionName);
        return builder.Configure<IServiceProvider>((options, services) => services.GetService<IConfiguration>()?.GetSection(sectionName).Bind(options));
    }

    /// <summary>Validates <typeparamref name="TOptions"/> with its own <c>Validate()</c> method (which throws
    /// <see cref="ArgumentException"/>) when the options are first used and, with <c>ValidateOnStart</c>, when the host
    /// starts: an option out of range fails the start with an <see cref="OptionsValidationException"/> naming it.</summary>
    /// <typeparam name="TOptions">The options type.</typeparam>
    /// <param name="builder">The options builder.</param>
    /// <param name="validate">The options' validation, throwing <see cref="ArgumentException"/>.</param>
    /// <returns>The options builder.</returns>
    public static OptionsBuilder<TOptions> ValidateEmbeddingKitOptions<TOptions>(this OptionsBuilder<TOptions> builder, Action<TOptions> validate)
        where TOptions : class
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(validate);
        builder.Services.AddSingleton<IValidateOptions<TOptions>>(new ThrowingValidation<TOptions>(builder.Name, validate));
        return builder.ValidateOnStart();
    }

    private sealed class ThrowingValidation<TOptions>(string? name, Action<TOptions> validate) : IValidateOptions<TOptions>
        where TOptions : class
    {
        public ValidateOptionsResult Validate(string? optionsName, TOptions options)
        {
            if (name is not null && name != optionsName)
            {
                return ValidateOptionsResult.Skip;
            }

            try
            {
                validate(options);
                return ValidateOptionsResult.Success;
            }
            catch (ArgumentException e)
            {
                return ValidateOptionsResult.Fail(e.Message);
            }
        }
    }
}
