using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using EmbeddingKit.Cli.Infrastructure;
using EmbeddingKit.Diagnostics;
using EmbeddingKit.Postgres.Rollout;
using EmbeddingKit.Postgres.Search;
using EmbeddingKit.Runtime;

namespace EmbeddingKit.Cli.Commands;

/// <summary><c>embeddingkit search "text" --entity-type T [--model M] [-k 10] [--hybrid | --lexical] [--json]</c>.</summary>
internal static class SearchCommand
{
    public static Command Create()
    {
        var query = new Argument<string>("query") { Description = "The text to search for." };
        var entityType = CommandOptions.EntityType();
        var k = new Option<int>("-k", "--k") { Description = "Number of hits (1 to 1000).", DefaultValueFactory = _ => 10 };
        var path = new Option<string?>("--path") { Description = "Force a path: two-stage, hnsw or exact (default: the model's saved setting, else hnsw below 1,024 dimensions and two-stage from 1,024)." };
        var hybrid = new Option<bool>("--hybrid") { Description = "Fuse the vector hits with full-text hits of the lexical index (reciprocal rank fusion, the settings `tune --queries` saved)." };
        var lexical = new Option<bool>("--lexical") { Description = "Full-text hits of the lexical index only (the query is not embedded)." };
        var command = new Command("search", "Search documents: embeds the query with the entity type's active model (or --model) and runs its saved search path; while the active model is incomplete, mixes in hits of the previous model or of full-text search.");
        command.Arguments.Add(query);
        command.Options.Add(entityType);
        command.Options.Add(k);
        command.Options.Add(path);
        command.Options.Add(hybrid);
        command.Options.Add(lexical);
        command.Options.Add(CommonOptions.Json);
        command.SetAction(async (parseResult, cancellationToken) =>
        {
            var settings = CliSettings.From(parseResult);
            var reporter = new Reporter(parseResult.GetValue(CommonOptions.Json));
            var type = CommandOptions.CheckEntityType(parseResult.GetValue(entityType));
            var text = parseResult.GetValue(query);
            if (string.IsNullOrWhiteSpace(text))
            {
                throw new CliException("the query is empty", 2);
            }

            var count = parseResult.GetValue(k);
            if (count is < 1 or > VectorSearchDefaults.MaxK)
            {
                throw new CliException("-k must be between 1 and 1000", 2);
            }

            var forced = ParsePath(parseResult.GetValue(path));
            if (parseResult.GetValue(hybrid) || parseResult.GetValue(lexical))
            {
                if (forced is not null || (parseResult.GetValue(hybrid) && parseResult.GetValue(lexical)))
                {
                    throw new CliException("use one of --path, --hybrid and --lexical", 2);
                }

                forced = parseResult.GetValue(hybrid) ? SearchPath.Hybrid : SearchPath.Lexical;
            }

            await using var host = await CliHost.OpenAsync(settings, reporter, withModel: true, cancellationToken);
            var answer = await RunAsync(host, text, type, count, settings.Model, forced, cancellationToken);
            if (reporter.Json)
            {
                JsonOutput.Write(new
                {
                    query = text,
                    entityType = type,
                    model = answer.Result.Model,
                    k = count,
                    fallbackUsed = answer.Result.FallbackUsed,
                    elapsedMilliseconds = Math.Round(answer.Elapsed.TotalMilliseconds, 1),
                    mode = forced switch { SearchPath.Hybrid => "hybrid", SearchPath.Lexical => "lexical", _ => "vector" },
                    hits = answer.Result.Hits.Select(h => new
                    {
                        id = h.EntityId,
                        score = Math.Round(h.Score, 6),
                        model = h.Model,
                        path = h.Path,
                        text = answer.Texts.GetValueOrDefault(h.EntityId),
                        vectorRank = h.VectorRank,
                        fallbackRank = h.FallbackRank,
                        lexicalRank = h.LexicalRank,
                        chunk = h.Chunk,
                        snippetStart = h.SnippetStart,
                        snippetLength = h.SnippetLength,
                    }),
                });
            }
            else
            {
                Print(reporter, answer, indent: "");
            }

            return 0;
        });
        return command;
    }

    /// <summary>A search answer with the documents' texts and the time it took (query embedding included).</summary>
    public sealed record Answer(EmbeddingSearchResult Result, Dictionary<string, string> Texts, TimeSpan Elapsed);

    public static async Task<Answer> RunAsync(CliHost host, string query, string entityType, int k, string? model, SearchPath? path, CancellationToken cancellationToken)
    {
        using var activity = EmbeddingKitDiagnostics.ActivitySource.StartActivity("embeddingkit.cli.search");

        // One round trip for the active model, its settings and coverage; the search service then uses what was read.
        // A one-shot command does not listen for changes: it reads the state once.
        await using var states = new ActiveModelCache(host.Rollout.SearchModels, new ActiveModelCacheOptions { Listen = false, MaxAgeWithoutListener = ActiveModelCacheDefaults.MaxAge }, host.Time);
        var state = await states.GetAsync(entityType, model ?? (host.Registry.WriteModels.Count > 0 ? host.Registry.WriteModels[0] : null), cancellationToken);
        var active = model is null ? state.Active : null;
        var name = model ?? active?.Model ?? host.Model.Name;
        if (!host.TryAddModelByName(name))
        {
            throw new CliException($"the active model '{name}' of {entityType} is not configured here: pass its provider options (--provider, --base-url, --model {name}, --dimensions)", 2);
        }

        if (active?.PreviousModel is { } previous)
        {
            host.TryAddModelByName(previous);
        }

        var service = new EmbeddingSearchService(new QueryEmbedder(host.Registry), new PgvectorSearch(host.DataSource), host.Rollout.SearchModels, host.Storage)
        {
            ActiveModels = states,

            // Hits bring their document's text in the search's own round trip (vector, fused and lexical paths).
            DocumentTexts = new DocumentTextSource(host.Schema, DocumentStore.TableName),
        };
        var watch = Stopwatch.StartNew();
        var result = await service.SearchAsync(query, entityType, k, model, path, cancellationToken: cancellationToken);
        var elapsed = watch.Elapsed;
        if (result.Hits.Count == 0 && path != SearchPath.Lexical)
        {
            await ThrowIfNoVectorsAsync(host, entityType, name, cancellationToken);
        }

        var texts = result.Hits.Where(h => h.Text is not null).GroupBy(h => h.EntityId, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.First().Text!, StringComparer.Ordinal);
        var lacking = result.Hits.Where(h => h.Text is null).Select(h => h.EntityId).Distinct(StringComparer.Ordinal).ToList();
        if (lacking.Count > 0)
        {
            // Hits without a row in the documents table (a document deleted since): one more look.
            foreach (var (id, text) in await host.Documents.GetTextsAsync(entityType, lacking, cancellationToken))
            {
                texts[id] = text;
            }
        }

        return new Answer(result, texts, elapsed);
    }

    // Only a search without hits asks why: no vectors of the model at all is an error that names the stored models.
    private static async Task ThrowIfNoVectorsAsync(CliHost host, string entityType, string name, CancellationToken cancellationToken)
    {
        if (await host.Storage.CountAsync(entityType, name, cancellationToken) > 0)
        {
            return;
        }

        var known = (await StoredVectors.CountAsync(host.DataSource, host.Schema, cancellationToken)).Where(g => g.EntityType == entityType).Select(g => g.Model).ToList();
        throw new CliException(known.Count == 0
            ? $"unknown model '{name}' for {entityType}: no vectors are stored for {entityType} yet (ingest, then work --until-idle)"
            : $"unknown model '{name}' for {entityType}: no vectors of it are stored; stored models: {string.Join(", ", known)}", 2);
    }

    public static void Print(Reporter reporter, Answer answer, string indent)
    {
        if (answer.Result.Hits.Count == 0)
        {
            reporter.Line($"{indent}no hits");
        }

        var rank = 0;
        foreach (var hit in answer.Result.Hits)
        {
            var text = Snippet(answer.Texts.GetValueOrDefault(hit.EntityId) ?? "", hit).ReplaceLineEndings(" ");
            if (text.Length > 90)
            {
                text = string.Concat(text.AsSpan(0, 87), "...");
            }

            var ranks = hit.VectorRank is null && hit.LexicalRank is null && hit.FallbackRank is null
                ? string.Empty
                : string.Create(CultureInfo.InvariantCulture, $", vector {Rank(hit.VectorRank)} lexical {Rank(hit.LexicalRank)}{(hit.FallbackRank is { } f ? $" fallback #{f}" : string.Empty)}");
            reporter.Line(string.Create(CultureInfo.InvariantCulture, $"{indent}{++rank,2}. {hit.Score,6:0.000}  {hit.EntityId}{(hit.SnippetStart is null ? string.Empty : $" #{hit.Chunk}")}  [{hit.Model ?? "lexical"}, {hit.Path}{ranks}]  {text}"));
        }
    }

    /// <summary>The part of the document the hit matched: its best chunk's span, or the document when it is not chunked
    /// (or the span no longer fits the document, edited since).</summary>
    public static string Snippet(string document, EmbeddingSearchHit hit) =>
        hit.SnippetStart is { } start && hit.SnippetLength is { } length && start >= 0 && length >= 0 && start + length <= document.Length
            ? document.Substring(start, length)
            : document;

    private static string Rank(int? rank) => rank is { } r ? "#" + r.ToString(CultureInfo.InvariantCulture) : "-";

    public static SearchPath? ParsePath(string? value) => value?.ToLowerInvariant() switch
    {
        null => null,
        "two-stage" or "twostage" => SearchPath.TwoStage,
        "hnsw" => SearchPath.Hnsw,
        "exact" => SearchPath.Exact,
        _ => throw new CliException($"unknown --path '{value}': use two-stage, hnsw or exact", 2),
    };
}
