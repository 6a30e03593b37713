extern alias cli;

using System.IO.Compression;
using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using cli::EmbeddingKit.Cli.Infrastructure;
using YamlDotNet.RepresentationModel;

namespace EmbeddingKit.Bench.Scenarios.Quality;

/// <summary>
/// The pairs of the <c>quality</c> scenario, from text nobody here wrote: the Debian package descriptions the demo reads
/// (dpkg status: installed packages with long descriptions) and the AppStream metadata apt keeps
/// (<c>*_dep11_Components-*.yml.gz</c>: application summaries and descriptions). Query: the synopsis; document: the
/// long description without it. Synopses shared by several packages are dropped (one right answer per query).
/// </summary>
internal static partial class QualityCorpus
{
    public static async Task<(IReadOnlyList<QualityPair> Pairs, string Sources)> ReadAsync(int count, int seed, CancellationToken cancellationToken)
    {
        var pairs = new Dictionary<string, QualityPair>(StringComparer.Ordinal);
        var corpus = await DebianCorpus.ReadAsync(null, cancellationToken);
        var installed = 0;
        foreach (var document in corpus.Documents)
        {
            using var metadata = JsonDocument.Parse(document.MetadataJson ?? "{}");
            var newline = document.Text.IndexOf('\n', StringComparison.Ordinal);
            if (!metadata.RootElement.TryGetProperty("installed", out _) || newline < 0)
            {
                continue;
            }

            var synopsis = document.Text[(document.Id.Length + 2)..newline];
            if (Add(pairs, document.Id, synopsis, document.Text[(newline + 1)..]))
            {
                installed++;
            }
        }

        var appstream = 0;
        foreach (var file in Directory.Exists(DebianCorpus.ListsDirectory) ? Directory.EnumerateFiles(DebianCorpus.ListsDirectory, "*_dep11_Components-*.yml.gz").Order(StringComparer.Ordinal) : Enumerable.Empty<string>())
        {
            await using var gzip = new GZipStream(File.OpenRead(file), CompressionMode.Decompress);
            using var reader = new StreamReader(gzip);
            var stream = new YamlStream();
            stream.Load(reader);
            foreach (var document in stream.Documents)
            {
                if (document.RootNode is YamlMappingNode root && Scalar(root, "Package") is { } package
                    && English(root, "Summary") is { } summary && English(root, "Description") is { } description
                    && Add(pairs, package, summary, PlainText(description)))
                {
                    appstream++;
                }
            }
        }

        // One right answer per query: drop every pair whose synopsis another pair shares.
        var unique = pairs.Values.GroupBy(p => p.Query.ToLowerInvariant(), StringComparer.Ordinal).Where(g => g.Count() == 1).Select(g => g.First())
            .OrderBy(p => p.Id, StringComparer.Ordinal).ToList();
        var random = new Random(seed);
        random.Shuffle(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(unique));
        return ([.. unique.Take(count)], $"dpkg status ({installed} installed packages with long descriptions), AppStream metadata ({appstream} applications)");
    }

    private static bool Add(Dictionary<string, QualityPair> pairs, string id, string synopsis, string document)
    {
        synopsis = synopsis.Trim();
        document = Whitespace().Replace(document, " ").Trim();
        if (pairs.ContainsKey(id) || synopsis.Length < 3 || document.Length < 40)
        {
            return false;
        }

        pairs[id] = new QualityPair(id, synopsis, document);
        return true;
    }

    private static string? Scalar(YamlMappingNode node, string key) =>
        node.Children.TryGetValue(new YamlScalarNode(key), out var value) && value is YamlScalarNode scalar ? scalar.Value : null;

    private static string? English(YamlMappingNode node, string key) =>
        node.Children.TryGetValue(new YamlScalarNode(key), out var value) && value is YamlMappingNode translations ? Scalar(translations, "C") : null;

    private static string PlainText(string html) => WebUtility.HtmlDecode(Tags().Replace(html, " "));

    [GeneratedRegex("<[^>]+>")]
    private static partial Regex Tags();

    [GeneratedRegex(@"\s+")]
    private static partial Regex Whitespace();
}
