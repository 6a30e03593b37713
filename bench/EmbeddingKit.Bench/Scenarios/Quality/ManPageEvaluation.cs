using System.Diagnostics;
using System.Globalization;
using System.Numerics.Tensors;
using EmbeddingKit.Chunking;
using EmbeddingKit.Embedders;
using EmbeddingKit.Onnx;
using EmbeddingKit.Runtime;

namespace EmbeddingKit.Bench.Scenarios.Quality;

/// <summary>
/// The long-document part of <c>quality</c> (<c>--man-pages N</c>): manual pages (see <see cref="ManPageCorpus"/>),
/// each embedded two ways with the same model: <b>truncate</b>, the page cut to the model's window (one vector per
/// page), and <b>chunk</b>, the page cut by <see cref="TextChunker"/> (the model's tokenizer, <c>--man-chunks
/// size:overlap[,size:overlap...]</c>, default 256:32, the page title repeated in every chunk). Queries are ranked
/// against every page exactly (cosine, in memory): chunked pages score by their best chunk (<c>chunk_best</c>) or by
/// the mean of their two best (<c>chunk_top2</c>). recall@10 and MRR@10 over all pages and over the pages longer than the
/// window (<c>long</c>). Hashing has no window: it is cut and chunked with the WordPiece vocabulary of the local presets.
/// A second query set (<c>deep_*</c>) asks for what lies past the window: a paragraph from beyond the cut of each long
/// page (see <see cref="DeepQueries"/>), ranked against the same vectors.
/// </summary>
internal static class ManPageEvaluation
{
    private const int K = 10;

    public static async Task RunAsync(BenchContext context, BenchResult result, int count, int seed, CancellationToken cancellationToken)
    {
        var log = context.Log;
        var cache = context.Arguments.SkipWhile(a => a != "--man-cache").Skip(1).FirstOrDefault() ?? Path.Combine(Path.GetTempPath(), "embeddingkit-man-cache");
        var wordPiece = LocalModels.AllMiniLmL6V2.CreateTokenCounter();
        var maxTokens = context.Integer("--man-max-tokens", 8000);
        var (pages, source) = await ManPageCorpus.ReadAsync(count, seed, context.Integer("--man-family-cap", 50), cache, p => wordPiece.CountTokens(p.Document) <= maxTokens, log, cancellationToken);
        source += $", pages over {maxTokens} WordPiece tokens skipped (--man-max-tokens)";
        log.WriteLine($"man pages: {source}");
        var models = (context.Arguments.SkipWhile(a => a != "--man-models").Skip(1).FirstOrDefault() ?? $"hashing-384,{LocalModels.ArcticEmbedXsName}")
            .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var configurations = (context.Arguments.SkipWhile(a => a != "--man-chunks").Skip(1).FirstOrDefault() ?? "256:32")
            .Split(',', StringSplitOptions.RemoveEmptyEntries)
            .Select(c => c.Split(':')).Select(p => (Size: int.Parse(p[0], CultureInfo.InvariantCulture), Overlap: int.Parse(p[1], CultureInfo.InvariantCulture))).ToList();

        var tokens = pages.Select(p => wordPiece.CountTokens(p.Document)).ToArray();
        var sorted = tokens.Order().ToArray();
        var window = LocalModels.AllMiniLmL6V2.MaxTokens - 2;
        var isLong = tokens.Select(t => t > window).ToArray();
        result.Metrics["man_pages"] = pages.Count;
        result.Metrics["man_pages_long"] = isLong.Count(l => l);
        result.Notes["man_pages"] = $"{source}; WordPiece tokens per page: median {sorted[sorted.Length / 2]}, p90 {sorted[sorted.Length * 9 / 10]}, max {sorted[^1]}, total {tokens.Sum(t => (long)t)}; {isLong.Count(l => l)} pages over the {window}-token window";
        log.WriteLine(result.Notes["man_pages"]);
        var deep = DeepQueries(pages, wordPiece, window, seed);
        result.Metrics["man_deep_queries"] = deep.Count;
        log.WriteLine($"man pages: {deep.Count} deep queries (a paragraph from beyond the {window}-token window of a long page)");

        foreach (var name in models)
        {
            var (model, counter, modelWindow) = Create(name, wordPiece, window);
            var system = $"man:{model.Name}";
            var queries = await EmbedAsync(model, pages.Select(p => model.QueryPrefix + p.Query).ToList(), true, log, "queries", cancellationToken);

            var truncated = pages.Select(p => model.DocumentPrefix + Truncate(p.Document, counter, modelWindow)).ToList();
            var watch = Stopwatch.StartNew();
            var whole = await EmbedAsync(model, truncated, false, log, $"{system} truncated pages", cancellationToken);
            result.Metrics[$"man_{VectorQualitySystem.Key(model.Name)}_truncate_embed_s"] = watch.Elapsed.TotalSeconds;
            Score(result, system, "truncate", queries, whole.Select((v, i) => (Entity: i, Vector: v)).ToList(), pages.Count, isLong, top2: false);
            var deepQueries = await EmbedAsync(model, deep.Select(d => model.QueryPrefix + d.Query).ToList(), true, log, "deep queries", cancellationToken);
            var deepTargets = deep.Select(d => d.Page).ToArray();
            var notLong = new bool[deep.Count];
            Score(result, system, "deep_truncate", deepQueries, whole.Select((v, i) => (Entity: i, Vector: v)).ToList(), pages.Count, notLong, top2: false, deepTargets);

            foreach (var (size, overlap) in configurations)
            {
                var chunker = new TextChunker(counter, new TextChunkerOptions { MaxTokens = Math.Min(size, modelWindow), OverlapTokens = overlap });
                var owners = new List<int>();
                var texts = new List<string>();
                for (var i = 0; i < pages.Count; i++)
                {
                    foreach (var chunk in chunker.Chunk(pages[i].Document, pages[i].Title))
                    {
                        owners.Add(i);
                        texts.Add(model.DocumentPrefix + chunk.Text);
                    }
                }

                watch.Restart();
                var vectors = await EmbedAsync(model, texts, false, log, $"{system} chunks of {size}:{overlap}", cancellationToken);
                var suffix = size == 256 && overlap == 32 ? string.Empty : $"_{size}_{overlap}";
                result.Metrics[$"man_{VectorQualitySystem.Key(model.Name)}_chunks{suffix}"] = texts.Count;
                result.Metrics[$"man_{VectorQualitySystem.Key(model.Name)}_chunk{suffix}_embed_s"] = watch.Elapsed.TotalSeconds;
                var rows = owners.Select((o, i) => (Entity: o, Vector: vectors[i])).ToList();
                Score(result, system, $"chunk_best{suffix}", queries, rows, pages.Count, isLong, top2: false);
                Score(result, system, $"chunk_top2{suffix}", queries, rows, pages.Count, isLong, top2: true);
                Score(result, system, $"deep_chunk_best{suffix}", deepQueries, rows, pages.Count, notLong, top2: false, deepTargets);
                if (result.Metrics.TryGetValue($"mrr_at_10_{Key(system)}_deep_truncate", out var deepCut))
                {
                    result.Metrics[$"mrr_at_10_gain_{Key(system)}_deep_chunk_best{suffix}_vs_truncate"] = result.Metrics[$"mrr_at_10_{Key(system)}_deep_chunk_best{suffix}"] - deepCut;
                }

                if (result.Metrics.TryGetValue($"mrr_at_10_{Key(system)}_truncate", out var cut))
                {
                    result.Metrics[$"mrr_at_10_gain_{Key(system)}_chunk_best{suffix}_vs_truncate"] = result.Metrics[$"mrr_at_10_{Key(system)}_chunk_best{suffix}"] - cut;
                }

                if (context.Integer("--man-stored", 0) != 0 && configurations[0] == (size, overlap))
                {
                    await ManPageStoredEvaluation.RunAsync(context, result, system, model, pages, isLong, chunker, suffix, cancellationToken);
                    foreach (var searched in new[] { "exact", "hnsw" })
                    {
                        if (result.Metrics.TryGetValue($"mrr_at_10_{Key(system)}_stored_truncate_{searched}", out var storedCut))
                        {
                            result.Metrics[$"mrr_at_10_gain_{Key(system)}_stored_chunk_best{suffix}_{searched}_vs_truncate"] =
                                result.Metrics[$"mrr_at_10_{Key(system)}_stored_chunk_best{suffix}_{searched}"] - storedCut;
                        }
                    }
                }
            }
        }
    }

    /// <summary>
    /// Queries for what truncation cannot see: for each page longer than the window, one paragraph that starts after the
    /// window's cut (seeded pick among those of 8 to 80 words, mostly letters, found in no other page), its first 30 words
    /// as the query. A known-item search for a passage past the window, which is what chunking is for; the NAME line
    /// paraphrases the page's opening, which truncation keeps.
    /// </summary>
    internal static List<(int Page, string Query)> DeepQueries(IReadOnlyList<ManPage> pages, ITokenCounter counter, int window, int seed)
    {
        var queries = new List<(int, string)>();
        for (var i = 0; i < pages.Count; i++)
        {
            var document = pages[i].Document;
            var cut = Truncate(document, counter, window).Length;
            if (cut >= document.Length)
            {
                continue;
            }

            var page = i;
            var eligible = document[cut..].Split("\n\n", StringSplitOptions.TrimEntries)
                .Select(p => p.ReplaceLineEndings(" "))
                .Where(p =>
                {
                    var words = p.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length;
                    return words is >= 8 and <= 80 && p.Count(char.IsLetter) >= 0.6 * p.Length
                        && !pages.Where((_, other) => other != page).Any(o => o.Document.Contains(p, StringComparison.Ordinal));
                })
                .ToList();
            if (eligible.Count > 0)
            {
                var paragraph = eligible[new Random(seed + i).Next(eligible.Count)];
                queries.Add((i, string.Join(' ', paragraph.Split(' ', StringSplitOptions.RemoveEmptyEntries).Take(30))));
            }
        }

        return queries;
    }

    private static (EmbeddingModel Model, ITokenCounter Counter, int Window) Create(string name, ITokenCounter wordPiece, int window)
    {
        if (name.StartsWith("hashing", StringComparison.Ordinal))
        {
            return (new EmbeddingModel("hashing-384", 384, new HashingEmbeddingGenerator(384)), wordPiece, window);
        }

        var preset = LocalModels.Find(name) ?? throw new ArgumentException($"--man-models: no model {name} (hashing-384 or a local preset)");
        var counter = preset.CreateTokenCounter();
        return (preset.ToEmbeddingModel(), counter, preset.MaxTokens - 2 - (preset.DocumentPrefix is null ? 0 : counter.CountTokens(preset.DocumentPrefix)));
    }

    /// <summary>The text up to the last whole word within <paramref name="limit"/> tokens (words counted with the
    /// whitespace before them, as the chunker counts).</summary>
    internal static string Truncate(string text, ITokenCounter counter, int limit)
    {
        var used = 0;
        var end = 0;
        var position = 0;
        while (position < text.Length)
        {
            var start = position;
            while (position < text.Length && char.IsWhiteSpace(text[position]))
            {
                position++;
            }

            while (position < text.Length && !char.IsWhiteSpace(text[position]))
            {
                position++;
            }

            used += counter.CountTokens(text.AsSpan(start, position - start));
            if (used > limit)
            {
                break;
            }

            end = position;
        }

        return end == 0 ? text[..Math.Min(text.Length, limit)] : text[..end];
    }

    private static async Task<float[][]> EmbedAsync(EmbeddingModel model, List<string> texts, bool queries, TextWriter log, string what, CancellationToken cancellationToken)
    {
        var vectors = new float[texts.Count][];
        var watch = Stopwatch.StartNew();
        var reported = TimeSpan.Zero;
        const int Batch = 64;
        for (var start = 0; start < texts.Count; start += Batch)
        {
            var batch = texts.GetRange(start, Math.Min(Batch, texts.Count - start));
            var embedded = await model.Generator.GenerateAsync(batch, queries ? model.QueryOptions : model.DocumentOptions, cancellationToken);
            for (var i = 0; i < batch.Count; i++)
            {
                var vector = embedded[i].Vector.ToArray();
                TensorPrimitives.Multiply(vector, 1f / MathF.Max(TensorPrimitives.Norm(vector), 1e-12f), vector);
                vectors[start + i] = vector;
            }

            if (watch.Elapsed - reported > TimeSpan.FromSeconds(30))
            {
                reported = watch.Elapsed;
                log.WriteLine($"  {what}: {start + batch.Count} of {texts.Count} embedded ({watch.Elapsed.TotalSeconds:0} s)");
            }
        }

        log.WriteLine($"  {what}: {texts.Count} embedded in {watch.Elapsed.TotalSeconds:0.0} s");
        return vectors;
    }

    /// <summary>Exact ranking of every page for every query: a page's score is its best row's cosine (or the sum of its
    /// two best); the right page's rank is the number of pages scoring higher.</summary>
    private static void Score(BenchResult result, string system, string path, float[][] queries, List<(int Entity, float[] Vector)> rows, int entities, bool[] isLong, bool top2, int[]? targets = null)
    {
        var ranks = new int?[queries.Length];
        var first = new float[entities];
        var second = new float[entities];
        for (var q = 0; q < queries.Length; q++)
        {
            Array.Fill(first, float.NegativeInfinity);
            Array.Fill(second, float.NegativeInfinity);
            foreach (var (entity, vector) in rows)
            {
                var score = TensorPrimitives.Dot(queries[q], vector);
                if (score > first[entity])
                {
                    second[entity] = first[entity];
                    first[entity] = score;
                }
                else if (score > second[entity])
                {
                    second[entity] = score;
                }
            }

            var target = targets?[q] ?? q;
            var mine = Total(first[target], second[target], top2);
            var rank = 0;
            for (var e = 0; e < entities && rank < K; e++)
            {
                if (e != target && Total(first[e], second[e], top2) > mine)
                {
                    rank++;
                }
            }

            ranks[q] = rank < K ? rank : null;
        }

        Record(result, system, path, ranks, isLong);
    }

    /// <summary>Records recall@10 and MRR@10 from each query's rank of its right page (null: not in the top 10), over all
    /// pages and over the long ones.</summary>
    internal static void Record(BenchResult result, string system, string path, IReadOnlyList<int?> ranks, bool[] isLong)
    {
        double hits = 0, reciprocal = 0, longHits = 0, longReciprocal = 0;
        var longCount = isLong.Count(l => l);
        for (var q = 0; q < ranks.Count; q++)
        {
            if (ranks[q] is int rank && rank < K)
            {
                hits++;
                reciprocal += 1.0 / (rank + 1);
                if (isLong[q])
                {
                    longHits++;
                    longReciprocal += 1.0 / (rank + 1);
                }
            }
        }

        var key = Key(system);
        result.Metrics[$"recall_at_10_{key}_{path}"] = hits / ranks.Count;
        result.Metrics[$"mrr_at_10_{key}_{path}"] = reciprocal / ranks.Count;
        result.Table.Add([system, path, F(hits / ranks.Count), F(reciprocal / ranks.Count)]);
        Console.Error.WriteLine($"  {system} {path}: recall@10 {F(hits / ranks.Count)}, MRR@10 {F(reciprocal / ranks.Count)}" +
            (longCount > 0 ? $"; over the window ({longCount}): recall@10 {F(longHits / longCount)}, MRR@10 {F(longReciprocal / longCount)}" : string.Empty));
        if (longCount > 0)
        {
            result.Metrics[$"recall_at_10_{key}_{path}_long"] = longHits / longCount;
            result.Metrics[$"mrr_at_10_{key}_{path}_long"] = longReciprocal / longCount;
            result.Table.Add([system, path + " (long)", F(longHits / longCount), F(longReciprocal / longCount)]);
        }
    }

    // The mean of the two best; a page with one chunk scores that chunk (a plain sum would rank every one-chunk page
    // below any page with two fair chunks).
    private static float Total(float first, float second, bool top2) => top2 && !float.IsNegativeInfinity(second) ? (first + second) / 2 : first;

    private static string Key(string system) => VectorQualitySystem.Key(system.Replace(':', '_'));

    private static string F(double value) => value.ToString("0.000", CultureInfo.InvariantCulture);
}
