using System.CommandLine;

namespace EmbeddingKit.Cli.Infrastructure;

/// <summary>Options several commands share (added per command, unlike the recursive <see cref="CommonOptions"/>).</summary>
internal static class CommandOptions
{
    public static Option<string> EntityType(bool required = true) => new("--entity-type")
    {
        Description = "The entity type of the documents (for example product, article).",
        Required = required,
    };

    public static string CheckEntityType(string? value) =>
        string.IsNullOrWhiteSpace(value) ? throw new CliException("--entity-type must not be empty", 2) : value;
}
