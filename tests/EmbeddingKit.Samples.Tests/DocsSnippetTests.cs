using System.Text.RegularExpressions;
using EmbeddingKit.TestInfrastructure;

namespace EmbeddingKit.Samples.Tests;

/// <summary>
/// The code in docs/ compiles because it is copied from samples/, which build with the solution: every block after a
/// <c>&lt;!-- snippet: path#region --&gt;</c> marker must equal that region of the file (scripts/docs-snippets refreshes them).
/// </summary>
public sealed partial class DocsSnippetTests
{
    public static TheoryData<string> Pages => [.. Directory.GetFiles(Path.Combine(RepositoryRoot.Find(), "docs"), "*.md").Select(p => Path.GetFileName(p)).Order(StringComparer.Ordinal)];

    [Theory]
    [MemberData(nameof(Pages))]
    public void Snippets_InDocsPage_EqualTheirRegionInTheSamples(string page)
    {
        var root = RepositoryRoot.Find();
        var text = File.ReadAllText(Path.Combine(root, "docs", page)).ReplaceLineEndings("\n");
        foreach (Match snippet in Snippet().Matches(text))
        {
            var path = snippet.Groups["path"].Value;
            var region = snippet.Groups["region"].Success ? snippet.Groups["region"].Value : null;
            Assert.True(File.Exists(Path.Combine(root, path)), $"{page}: {path} does not exist");
            Assert.Equal(Region(File.ReadAllText(Path.Combine(root, path)).ReplaceLineEndings("\n"), region, $"{page}: {path}"), snippet.Groups["body"].Value);
        }

        // Every C# block of a page that has snippets is a snippet: no hand-written code that nothing compiles.
        if (Snippet().IsMatch(text))
        {
            Assert.Equal(Snippet().Count(text), CSharpBlock().Count(text));
        }
    }

    private static string Region(string file, string? name, string where)
    {
        var lines = file.Split('\n');
        IEnumerable<string> body = lines;
        if (name is not null)
        {
            var start = Array.FindIndex(lines, l => l.Trim() == $"// #region {name}");
            var end = Array.FindIndex(lines, l => l.Trim() == $"// #endregion {name}");
            Assert.True(start >= 0 && end > start, $"{where}: no region {name}");
            body = lines[(start + 1)..end];
        }

        var kept = body.Where(l => !RegionLine().IsMatch(l)).ToList();
        while (kept.Count > 0 && kept[0].Trim().Length == 0)
        {
            kept.RemoveAt(0);
        }

        while (kept.Count > 0 && kept[^1].Trim().Length == 0)
        {
            kept.RemoveAt(kept.Count - 1);
        }

        var indent = kept.Where(l => l.Trim().Length > 0).Select(l => l.Length - l.TrimStart().Length).DefaultIfEmpty(0).Min();
        return string.Join('\n', kept.Select(l => l.Length >= indent ? l[indent..] : l.TrimStart())) + "\n";
    }

    [GeneratedRegex(@"<!-- snippet: (?<path>[^#\s]+)(?:#(?<region>[\w-]+))? -->\n```\w*\n(?<body>.*?)```", RegexOptions.Singleline)]
    private static partial Regex Snippet();

    [GeneratedRegex(@"^```csharp$", RegexOptions.Multiline)]
    private static partial Regex CSharpBlock();

    [GeneratedRegex(@"^\s*// #(end)?region")]
    private static partial Regex RegionLine();
}
