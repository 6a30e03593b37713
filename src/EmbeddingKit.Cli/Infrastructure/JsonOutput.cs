using System.Text.Json;
using System.Text.Json.Serialization;

namespace EmbeddingKit.Cli.Infrastructure;

/// <summary>Writes the one JSON document a <c>--json</c> command prints on stdout (snake_case names, enums as snake_case strings).</summary>
internal static class JsonOutput
{
    public static JsonSerializerOptions Options { get; } = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
    };

    public static void Write(object value) => Console.Out.WriteLine(JsonSerializer.Serialize(value, Options));
}
