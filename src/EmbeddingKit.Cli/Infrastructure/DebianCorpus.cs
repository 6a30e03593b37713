using System.Diagnostics;
using System.IO.Compression;
using System.Text;
using System.Text.Json;

namespace EmbeddingKit.Cli.Infrastructure;

/// <summary>
/// The demo corpus: the descriptions of the Debian packages this machine knows, written by their maintainers. It reads
/// apt's package lists (<c>/var/lib/apt/lists/*_Packages*</c>, compressed or not: every package the configured mirrors
/// offer, with its one-line description) and dpkg's status file (the installed packages, with their long descriptions).
/// </summary>
internal static class DebianCorpus
{
    public const string ListsDirectory = "/var/lib/apt/lists";
    public const string StatusFile = "/var/lib/dpkg/status";

    /// <summary>The corpus and where it came from.</summary>
    public sealed record Corpus(IReadOnlyList<SourceDocument> Documents, IReadOnlyList<string> Sources, int Available)
    {
        /// <summary>Says what the sources are, not their file names (apt's list names carry mirror host names):
        /// <c>apt package lists (3 files), dpkg status</c>.</summary>
        public string DescribeSources()
        {
            var lists = Sources.Count(s => s != StatusFile);
            var parts = new List<string>(2);
            if (lists > 0)
            {
                parts.Add($"apt package lists ({lists} file{(lists == 1 ? "" : "s")})");
            }

            if (Sources.Contains(StatusFile))
            {
                parts.Add("dpkg status");
            }

            return parts.Count == 0 ? "no sources" : string.Join(", ", parts);
        }
    }

    /// <summary>Reads the corpus. With a <paramref name="limit"/> below the number available, takes that many: installed
    /// packages first, then applications and tools, then the rest, each class sampled evenly by name.</summary>
    public static async Task<Corpus> ReadAsync(int? limit, CancellationToken cancellationToken)
    {
        var packages = new Dictionary<string, Package>(StringComparer.Ordinal);
        var sources = new List<string>();
        if (Directory.Exists(ListsDirectory))
        {
            foreach (var file in Directory.EnumerateFiles(ListsDirectory, "*_Packages*").Where(f => !f.EndsWith(".diff_Index", StringComparison.Ordinal)).Order(StringComparer.Ordinal))
            {
                var text = await ReadListAsync(file, cancellationToken);
                if (text is not null && Parse(text, packages, installed: false) > 0)
                {
                    sources.Add(file);
                }
            }
        }

        if (File.Exists(StatusFile) && Parse(await File.ReadAllTextAsync(StatusFile, cancellationToken), packages, installed: true) > 0)
        {
            sources.Add(StatusFile);
        }

        var all = packages.Values.Where(p => p.Description.Length > 0).OrderBy(p => p.Name, StringComparer.Ordinal).ToList();
        var chosen = all;
        if (limit is { } n && n < all.Count)
        {
            // Installed packages (with long descriptions) first, then applications and tools, then libraries,
            // development, documentation and data packages; within a class an evenly spaced sample by name.
            chosen = [];
            foreach (var group in all.GroupBy(Rank).OrderBy(g => g.Key))
            {
                var members = group.ToList();
                var room = n - chosen.Count;
                if (room <= 0)
                {
                    break;
                }

                chosen.AddRange(members.Count <= room ? members : Enumerable.Range(0, room).Select(i => members[(int)((long)i * members.Count / room)]));
            }

            chosen.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
        }

        return new Corpus([.. chosen.Select(ToDocument)], sources, all.Count);
    }

    private static int Rank(Package p)
    {
        if (p.LongDescription.Length > 0)
        {
            return 0;
        }

        var name = p.Name;
        var secondary = name.StartsWith("lib", StringComparison.Ordinal)
            || name.EndsWith("-dev", StringComparison.Ordinal) || name.EndsWith("-doc", StringComparison.Ordinal)
            || name.EndsWith("-dbg", StringComparison.Ordinal) || name.EndsWith("-dbgsym", StringComparison.Ordinal)
            || name.EndsWith("-data", StringComparison.Ordinal) || name.EndsWith("-common", StringComparison.Ordinal)
            || name.Contains("-l10n-", StringComparison.Ordinal) || name.Contains("-locale-", StringComparison.Ordinal)
            || name.Contains("-i18n-", StringComparison.Ordinal) || name.Contains("-lang-", StringComparison.Ordinal);
        return secondary ? 2 : 1;
    }

    private static SourceDocument ToDocument(Package p)
    {
        var text = p.LongDescription.Length == 0 ? $"{p.Name}: {p.Description}" : $"{p.Name}: {p.Description}\n{p.LongDescription}";
        var metadata = JsonSerializer.Serialize(new Dictionary<string, string?>
        {
            ["version"] = p.Version,
            ["section"] = p.Section,
            ["homepage"] = p.Homepage,
            ["installed"] = p.LongDescription.Length > 0 ? "true" : null,
        }.Where(e => e.Value is not null).ToDictionary(e => e.Key, e => e.Value));
        return new SourceDocument(p.Name, text, metadata);
    }

    private static async Task<string?> ReadListAsync(string file, CancellationToken cancellationToken)
    {
        if (file.EndsWith("_Packages", StringComparison.Ordinal))
        {
            return await File.ReadAllTextAsync(file, cancellationToken);
        }

        if (file.EndsWith(".gz", StringComparison.Ordinal))
        {
            await using var gzip = new GZipStream(File.OpenRead(file), CompressionMode.Decompress);
            using var reader = new StreamReader(gzip, Encoding.UTF8);
            return await reader.ReadToEndAsync(cancellationToken);
        }

        // .lz4, .xz, .zst, .bz2: apt's own helper decompresses whatever apt wrote.
        const string helper = "/usr/lib/apt/apt-helper";
        if (!File.Exists(helper))
        {
            return null;
        }

        var start = new ProcessStartInfo(helper) { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add("cat-file");
        start.ArgumentList.Add(file);
        using var process = Process.Start(start);
        if (process is null)
        {
            return null;
        }

        var output = process.StandardOutput.ReadToEndAsync(cancellationToken);
        _ = process.StandardError.ReadToEndAsync(cancellationToken);
        await process.WaitForExitAsync(cancellationToken);
        return process.ExitCode == 0 ? await output : null;
    }

    /// <summary>Parses deb822 stanzas; returns how many packages were seen. The first one-line description of a name
    /// wins; an installed package adds its long description.</summary>
    private static int Parse(string text, Dictionary<string, Package> packages, bool installed)
    {
        var seen = 0;
        foreach (var stanza in text.Split("\n\n", StringSplitOptions.RemoveEmptyEntries))
        {
            string? name = null, description = null, version = null, section = null, homepage = null;
            var longDescription = new StringBuilder();
            var inDescription = false;
            foreach (var line in stanza.Split('\n'))
            {
                if (line.Length > 0 && (line[0] == ' ' || line[0] == '\t'))
                {
                    if (inDescription)
                    {
                        var content = line.Trim();
                        longDescription.Append(content == "." ? "\n" : content + " ");
                    }

                    continue;
                }

                inDescription = false;
                var colon = line.IndexOf(':', StringComparison.Ordinal);
                if (colon <= 0)
                {
                    continue;
                }

                var value = line[(colon + 1)..].Trim();
                switch (line[..colon])
                {
                    case "Package": name = value; break;
                    case "Version": version = value; break;
                    case "Section": section = value; break;
                    case "Homepage": homepage = value; break;
                    case "Description":
                        description = value;
                        inDescription = true;
                        break;
                }
            }

            if (name is null || string.IsNullOrWhiteSpace(description))
            {
                continue;
            }

            seen++;
            var longText = installed ? longDescription.ToString().Trim() : "";
            if (packages.TryGetValue(name, out var existing))
            {
                if (longText.Length > 0 && existing.LongDescription.Length == 0)
                {
                    packages[name] = existing with { LongDescription = longText };
                }
            }
            else
            {
                packages[name] = new Package(name, description, longText, version, section, homepage);
            }
        }

        return seen;
    }

    private sealed record Package(string Name, string Description, string LongDescription, string? Version, string? Section, string? Homepage);
}
