using System.Globalization;
using EmbeddingKit.Postgres.Storage;
using EmbeddingKit.Runtime;

namespace EmbeddingKit.Postgres.Search;

/// <summary>
/// Picks an entity type's fusion settings from labelled queries: runs every query through the model's saved vector path
/// alone, the lexical index alone and hybrid search at each setting of a grid (RRF k, lexical weight, candidate depth),
/// measures MRR@k, recall@k and latency, and recommends the setting with the highest MRR@k within a latency budget.
/// </summary>
/// <remarks>
/// Every search is the statement search runs (<see cref="PgvectorSearch.SearchAsync(EmbeddingTable, string, ReadOnlyMemory{Half}, VectorSearchOptions?, Npgsql.NpgsqlTransaction?, CancellationToken)"/>
/// or <see cref="PgvectorSearch.HybridSearchAsync"/>), one round trip each; each query is embedded once, before the
/// timed part. It issues <c>queries × (2 + settings)</c> searches, after one untimed warm-up pass. Tune on queries that
/// stand for the application's (a few hundred are enough to separate settings by a few hundredths of MRR); the
/// recommendation is saved with <see cref="LexicalIndex.SaveHybridSettingsAsync"/>, and hybrid search uses it from then on.
/// </remarks>
public sealed class HybridTuner
{
    private readonly PgvectorSearch _search;
    private readonly QueryEmbedder _queries;
    private readonly SearchModelStore _models;
    private readonly LexicalIndex _lexical;
    private readonly TimeProvider _timeProvider;

    /// <summary>Creates the tuner.</summary>
    /// <param name="search">Runs the searches.</param>
    /// <param name="queries">Embeds the queries (its registry knows the model).</param>
    /// <param name="models">Knows the model's saved vector search setting.</param>
    /// <param name="lexical">The lexical index fused with the vectors.</param>
    /// <param name="timeProvider">The clock latencies are measured with; <see cref="TimeProvider.System"/> when null.</param>
    public HybridTuner(PgvectorSearch search, QueryEmbedder queries, SearchModelStore models, LexicalIndex lexical, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(search);
        ArgumentNullException.ThrowIfNull(queries);
        ArgumentNullException.ThrowIfNull(models);
        ArgumentNullException.ThrowIfNull(lexical);
        _search = search;
        _queries = queries;
        _models = models;
        _lexical = lexical;
        _timeProvider = timeProvider ?? TimeProvider.System;
    }

    /// <summary>Measures every way of searching and recommends a fusion setting (saved only by <see cref="SaveAsync"/>).</summary>
    /// <param name="table">The model's table.</param>
    /// <param name="model">The model whose vectors are fused (registered in the query embedder's registry).</param>
    /// <param name="queries">The labelled queries (at least one, each with at least one relevant id).</param>
    /// <param name="options">The entity type, k, budget and grid.</param>
    /// <param name="cancellationToken">Cancels the run.</param>
    /// <exception cref="ArgumentException">No queries, a query without text or relevant ids, or an option out of range.</exception>
    public async ValueTask<HybridTuningResult> TuneAsync(
        EmbeddingTable table, string model, IReadOnlyList<LabelledQuery> queries, HybridTunerOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(table);
        ArgumentException.ThrowIfNullOrEmpty(model);
        ArgumentNullException.ThrowIfNull(queries);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        if (queries.Count == 0)
        {
            throw new ArgumentException("Tuning needs at least one labelled query.", nameof(queries));
        }

        for (var i = 0; i < queries.Count; i++)
        {
            if (queries[i] is not { } q || string.IsNullOrWhiteSpace(q.Query) || q.Relevant is not { Count: > 0 })
            {
                throw new ArgumentException($"Labelled query {i + 1} has no text or no relevant ids.", nameof(queries));
            }
        }

        var saved = await _models.GetSearchSettingsAsync(model, cancellationToken).ConfigureAwait(false);
        var lists = new HybridVectorList[queries.Count];
        for (var i = 0; i < queries.Count; i++)
        {
            var vector = await _queries.EmbedAsync(model, queries[i].Query, cancellationToken).ConfigureAwait(false);
            lists[i] = new HybridVectorList(table, model, vector)
            {
                Path = saved?.Path ?? VectorSearchDefaults.PathFor(table.Dimensions),
                Oversample = saved?.Oversample ?? VectorSearchDefaults.Oversample,
                EfSearch = saved?.EfSearch ?? VectorSearchDefaults.EfSearch,
            };
        }

        var k = options.K;
        var depth = Math.Max(HybridSearchDefaults.Depth, k);
        var lexicalOnly = HybridSettings.Default with { VectorDepth = depth, LexicalDepth = depth };

        // An untimed pass warms the caches (statements, index pages) so that the first setting measured is not penalised.
        await MeasureAsync("hybrid", HybridSettings.Default with { VectorDepth = depth, LexicalDepth = depth }, queries, lists, options, cancellationToken).ConfigureAwait(false);

        var vectorRow = await MeasureAsync("vector", null, queries, lists, options, cancellationToken).ConfigureAwait(false);
        var lexicalRow = await MeasureAsync("lexical", lexicalOnly, queries, lists, options, cancellationToken).ConfigureAwait(false);
        var rows = new List<HybridTuningRow>();
        foreach (var setting in options.Grid())
        {
            rows.Add(await MeasureAsync("hybrid", setting, queries, lists, options, cancellationToken).ConfigureAwait(false));
        }

        var budget = options.LatencyBudget?.TotalMilliseconds ?? 1.5 * vectorRow.P50Milliseconds;
        var within = rows.Where(r => r.P50Milliseconds <= budget).ToList();
        var best = within.Count > 0
            ? within.OrderByDescending(r => Math.Round(r.MrrAtK, 4)).ThenBy(r => r.P50Milliseconds).First()
            : rows.OrderBy(r => r.P50Milliseconds).First();
        var better = Math.Max(vectorRow.MrrAtK, lexicalRow.MrrAtK);
        var reason = within.Count > 0
            ? string.Create(CultureInfo.InvariantCulture,
                $"highest MRR@{k} within the {budget:0.00} ms p50 budget: {best.MrrAtK:0.000} ({best.MrrAtK - better:+0.000;-0.000} vs the better single side, vector {vectorRow.MrrAtK:0.000}, lexical {lexicalRow.MrrAtK:0.000})")
            : string.Create(CultureInfo.InvariantCulture,
                $"no setting is within the {budget:0.00} ms p50 budget; the fastest ({best.P50Milliseconds:0.00} ms) reaches MRR@{k} {best.MrrAtK:0.000}");
        return new HybridTuningResult
        {
            EntityType = options.EntityType,
            Model = model,
            K = k,
            QueryCount = queries.Count,
            LatencyBudgetMilliseconds = budget,
            Vector = vectorRow,
            Lexical = lexicalRow,
            Rows = rows,
            Recommendation = best.Settings! with { Mrr = best.MrrAtK },
            WithinBudget = within.Count > 0,
            Reason = reason,
        };
    }

    /// <summary>Saves a tuning's recommendation as its entity type's fusion settings.</summary>
    /// <param name="result">The tuning.</param>
    /// <param name="cancellationToken">Cancels the write.</param>
    public ValueTask SaveAsync(HybridTuningResult result, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(result);
        return _lexical.SaveHybridSettingsAsync(result.EntityType, result.Recommendation, cancellationToken);
    }

    /// <summary>Runs every query one way: the vector path alone (<paramref name="settings"/> null), the lexical index
    /// alone (<paramref name="name"/> <c>lexical</c>) or fused by <paramref name="settings"/>.</summary>
    private async ValueTask<HybridTuningRow> MeasureAsync(
        string name, HybridSettings? settings, IReadOnlyList<LabelledQuery> queries, HybridVectorList[] lists, HybridTunerOptions options, CancellationToken cancellationToken)
    {
        var k = options.K;
        var latencies = new double[queries.Count];
        double reciprocal = 0, recall = 0;
        for (var i = 0; i < queries.Count; i++)
        {
            var started = _timeProvider.GetTimestamp();
            IReadOnlyList<string> ids;
            if (settings is null)
            {
                var list = lists[i];
                var vector = new VectorSearchOptions { K = k, Path = list.Path, Oversample = list.Oversample, EfSearch = list.EfSearch, EntityType = options.EntityType };
                ids = [.. (await _search.SearchAsync(list.Table, list.Model, list.Query, vector, cancellationToken: cancellationToken).ConfigureAwait(false)).Hits.Select(h => h.EntityId)];
            }
            else
            {
                var fused = new HybridSearchOptions { K = k, Settings = settings, EntityType = options.EntityType };
                var vectors = name == "lexical" ? Array.Empty<HybridVectorList>() : [lists[i]];
                ids = [.. (await _search.HybridSearchAsync(vectors, queries[i].Query, _lexical, fused, cancellationToken: cancellationToken).ConfigureAwait(false)).Select(h => h.EntityId)];
            }

            latencies[i] = _timeProvider.GetElapsedTime(started).TotalMilliseconds;
            var relevant = queries[i].Relevant;
            for (var rank = 0; rank < ids.Count; rank++)
            {
                if (relevant.Contains(ids[rank], StringComparer.Ordinal))
                {
                    reciprocal += 1.0 / (rank + 1);
                    break;
                }
            }

            recall += (double)relevant.Distinct(StringComparer.Ordinal).Count(ids.Contains) / relevant.Distinct(StringComparer.Ordinal).Count();
        }

        Array.Sort(latencies);
        return new HybridTuningRow(
            name, name == "hybrid" ? settings : null, reciprocal / queries.Count, recall / queries.Count, Percentile(latencies, 0.50), Percentile(latencies, 0.99));
    }

    /// <summary>Nearest-rank percentile of sorted values.</summary>
    private static double Percentile(double[] sorted, double p) =>
        sorted.Length == 0 ? 0 : sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Length) - 1, 0, sorted.Length - 1)];
}
