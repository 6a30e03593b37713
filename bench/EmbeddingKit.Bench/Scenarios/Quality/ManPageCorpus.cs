using System.Diagnostics;
using System.IO.Compression;
using System.Text;

namespace EmbeddingKit.Bench.Scenarios.Quality;

/// <summary>
/// Long documents nobody here wrote: the manual pages installed on this machine (<c>/usr/share/man/man1</c> to
/// <c>man8</c>, English), rendered to text with <c>groff -mandoc -Tutf8</c> (one very long line per paragraph, no
/// hyphenation or fill artefacts; cached under <c>--man-cache</c>). Query: the NAME section's one-line description (what
/// follows the dash); document: the rest of the page; title: the page name, e.g. <c>ls(1)</c>. Pages that only include
/// another (<c>.so</c>) are skipped, so are pages under 200 characters and descriptions shared with an earlier page.
/// One page family (the name before the first <c>_</c>) gets at most <c>--man-family-cap</c> pages (default 50): this
/// machine has 16,000+ generated <c>gcloud_*</c> pages that would otherwise be most of any sample.
/// </summary>
internal static class ManPageCorpus
{
    public const string Root = "/usr/share/man";

    public static async Task<(IReadOnlyList<ManPage> Pages, string Source)> ReadAsync(int count, int seed, int familyCap, string cacheDirectory, TextWriter log, CancellationToken cancellationToken)
    {
        var files = Enumerable.Range(1, 8).Select(s => Path.Combine(Root, $"man{s}")).Where(Directory.Exists)
            .SelectMany(d => new DirectoryInfo(d).EnumerateFiles("*.gz").Where(f => f.LinkTarget is null).Select(f => f.FullName))
            .Order(StringComparer.Ordinal).ToList();
        var random = new Random(seed);
        var shuffled = files.ToArray();
        random.Shuffle(shuffled);
        var perFamily = new Dictionary<string, int>(StringComparer.Ordinal);
        var candidates = new List<string>();
        foreach (var file in shuffled)
        {
            var family = Name(file).Split('_', 2)[0];
            var taken = perFamily.GetValueOrDefault(family);
            if (taken < familyCap)
            {
                perFamily[family] = taken + 1;
                candidates.Add(file);
            }
        }

        Directory.CreateDirectory(cacheDirectory);
        var pages = new List<ManPage>(count);
        var queries = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var rendered = 0;
        var watch = Stopwatch.StartNew();
        for (var start = 0; start < candidates.Count && pages.Count < count; start += 16)
        {
            // Two groff processes at a time: the machine has two cores.
            var batch = candidates.Skip(start).Take(16).ToList();
            var texts = new string?[batch.Count];
            await Parallel.ForEachAsync(Enumerable.Range(0, batch.Count), new ParallelOptions { MaxDegreeOfParallelism = 2, CancellationToken = cancellationToken },
                async (i, ct) => texts[i] = await RenderAsync(batch[i], cacheDirectory, ct));
            for (var i = 0; i < batch.Count && pages.Count < count; i++)
            {
                rendered++;
                if (texts[i] is { } text && Parse(Name(batch[i]), text) is { } page && queries.Add(page.Query))
                {
                    pages.Add(page);
                }
            }

            if (start % 512 == 0 && start > 0)
            {
                log.WriteLine($"  man pages: {pages.Count} of {count} after {rendered} rendered ({watch.Elapsed.TotalSeconds:0} s)");
            }
        }

        return (pages, $"{files.Count} pages under {Root}/man1-8, {candidates.Count} after the family cap of {familyCap}, {rendered} rendered for {pages.Count} usable (seed {seed})");
    }

    private static string Name(string file) => Path.GetFileName(file)[..^3];

    /// <summary>The page's text, from the cache or groff; null for a page that only includes another or fails.</summary>
    private static async Task<string?> RenderAsync(string file, string cacheDirectory, CancellationToken cancellationToken)
    {
        var cached = Path.Combine(cacheDirectory, Path.GetFileName(file) + ".txt");
        if (File.Exists(cached))
        {
            return await File.ReadAllTextAsync(cached, cancellationToken);
        }

        byte[] source;
        await using (var gzip = new GZipStream(File.OpenRead(file), CompressionMode.Decompress))
        using (var memory = new MemoryStream())
        {
            await gzip.CopyToAsync(memory, cancellationToken);
            source = memory.ToArray();
        }

        var head = Encoding.UTF8.GetString(source, 0, Math.Min(source.Length, 512));
        if (head.Split('\n').FirstOrDefault(l => !l.StartsWith(".\\\"", StringComparison.Ordinal) && !l.StartsWith("'\\\"", StringComparison.Ordinal) && l.Length > 0) is { } first
            && first.StartsWith(".so ", StringComparison.Ordinal))
        {
            await File.WriteAllTextAsync(cached, string.Empty, cancellationToken);
            return null;
        }

        var start = new ProcessStartInfo("groff", ["-k", "-Tutf8", "-mandoc", "-P-cbou", "-rLL=3000n", "-rHY=0"])
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            StandardOutputEncoding = Encoding.UTF8,
        };
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var errors = process.StandardError.ReadToEndAsync(cancellationToken);
        await process.StandardInput.BaseStream.WriteAsync(source, cancellationToken);
        process.StandardInput.Close();
        var text = await output;
        await errors;
        await process.WaitForExitAsync(cancellationToken);
        text = process.ExitCode == 0 ? text : string.Empty;
        await File.WriteAllTextAsync(cached, text, cancellationToken);
        return text.Length == 0 ? null : text;
    }

    /// <summary>Splits rendered text into the NAME description and the rest (header and footer lines dropped, lines
    /// trimmed, runs of blank lines made one paragraph break).</summary>
    internal static ManPage? Parse(string name, string rendered)
    {
        var lines = rendered.Split('\n').Select(l => l.Trim()).ToList();
        while (lines.Count > 0 && lines[^1].Length == 0)
        {
            lines.RemoveAt(lines.Count - 1);
        }

        if (lines.Count < 4)
        {
            return null;
        }

        lines.RemoveAt(lines.Count - 1); // footer
        var nameLine = lines.FindIndex(l => l == "NAME");
        if (nameLine < 0)
        {
            return null;
        }

        var end = nameLine + 1;
        var description = new StringBuilder();
        while (end < lines.Count && (lines[end].Length > 0 || description.Length == 0))
        {
            description.Append(lines[end]).Append(' ');
            end++;
        }

        var line = description.ToString().Trim();
        var (at, length) = IndexOfDash(line);
        if (at < 0)
        {
            return null;
        }

        var query = line[(at + length)..].Trim();
        var body = new StringBuilder();
        var blank = false;
        foreach (var l in lines.Skip(end))
        {
            if (l.Length == 0)
            {
                blank = body.Length > 0;
                continue;
            }

            if (body.Length > 0)
            {
                body.Append(blank ? "\n\n" : "\n");
            }

            body.Append(l);
            blank = false;
        }

        var document = body.ToString();
        if (query.Length < 3 || document.Length < 200)
        {
            return null;
        }

        var section = name.LastIndexOf('.');
        var title = section > 0 ? $"{name[..section]}({name[(section + 1)..]})" : name;
        return new ManPage(name, title, query, document);
    }

    private static (int, int) IndexOfDash(string line)
    {
        foreach (var dash in (string[])[" - ", " — ", " – ", " -- "])
        {
            var at = line.IndexOf(dash, StringComparison.Ordinal);
            if (at > 0)
            {
                return (at, dash.Length);
            }
        }

        return (-1, 0);
    }
}

/// <summary>One manual page: its file name (the id), title, NAME description (the query) and the rest (the document).</summary>
internal sealed record ManPage(string Id, string Title, string Query, string Document);
