using System.Globalization;
using EmbeddingKit.Postgres.Storage;
using Npgsql;
using NpgsqlTypes;
using Pgvector;

namespace EmbeddingKit.Postgres.Search;

/// <summary>
/// Measures, on a sample of the live table, the recall@k and latency of two-stage search at several oversample factors
/// and of plain HNSW at several <c>ef_search</c> values, against exact search, and recommends the cheapest setting that
/// reaches a target recall with a given confidence (a lower confidence bound of its mean recall over the sample).
/// </summary>
/// <remarks>
/// <para>Recall depends on the data, so the oversample factor is a per-model setting: binary quantization keeps one bit
/// per dimension and can collapse below about 1,024 dimensions on some data, in which case no oversample factor reaches
/// the target and the tuner recommends plain <c>halfvec</c> HNSW instead.</para>
/// <para>The queries come from a seeded sample of the model's stored vectors, each moved off the index by its nearest
/// neighbour's distance in a random direction, so that they are points the index does not hold, as real queries are
/// (<see cref="SearchTunerOptions.UseStoredVectorsAsQueries"/> uses the stored vectors themselves, each query's own row
/// left out of its ground truth and results). Run it after the indexes are built; it issues
/// <c>SampleSize × (2 + settings)</c> searches.</para>
/// </remarks>
public sealed class SearchTuner
{
    private static string SampleSql(EmbeddingTable table) => $"""
        SELECT entity_type, entity_id, embedding FROM {table.QualifiedName}
        WHERE model = $1 AND ($2::text IS NULL OR entity_type = $2)
        ORDER BY hashtextextended(entity_type || '/' || entity_id, $3)
        LIMIT $4
        """;

    private readonly NpgsqlDataSource _dataSource;
    private readonly PgvectorSearch _search;
    private readonly TimeProvider _timeProvider;

    /// <summary>Creates the tuner.</summary>
    /// <param name="dataSource">The database, built with <c>UseVector()</c>.</param>
    /// <param name="timeProvider">The clock latencies are measured with; <see cref="TimeProvider.System"/> when null.</param>
    public SearchTuner(NpgsqlDataSource dataSource, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(dataSource);
        _dataSource = dataSource;
        _search = new PgvectorSearch(dataSource);
        _timeProvider = timeProvider ?? TimeProvider.System;
    }

    /// <summary>Measures and recommends.</summary>
    /// <exception cref="InvalidOperationException">The table holds no vector of the model.</exception>
    public async ValueTask<SearchTuningResult> TuneAsync(EmbeddingTable table, string model, SearchTunerOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(table);
        ArgumentException.ThrowIfNullOrEmpty(model);
        options ??= new SearchTunerOptions();
        options.Validate();

        var queries = await SampleAsync(table, model, options, cancellationToken).ConfigureAwait(false);
        if (queries.Count == 0)
        {
            throw new InvalidOperationException($"{table} holds no vector of model '{model}' to tune with.");
        }

        if (!options.UseStoredVectorsAsQueries)
        {
            queries = await MoveOffTheIndexAsync(table, model, queries, options, cancellationToken).ConfigureAwait(false);
        }

        // A stored vector as the query asks for k + 1 and drops its own row; a moved one is not stored.
        var k = options.UseStoredVectorsAsQueries ? options.K + 1 : options.K;
        var exact = new VectorSearchOptions { K = k, Path = SearchPath.Exact, EntityType = options.EntityType };
        var (truth, exactRow) = await MeasureAsync(table, model, queries, exact, null, options.K, options.Confidence, cancellationToken).ConfigureAwait(false);

        var rows = new List<SearchTuningRow>(options.Oversamples.Count + options.EfSearches.Count);
        foreach (var oversample in options.Oversamples)
        {
            var setting = new VectorSearchOptions { K = k, Path = SearchPath.TwoStage, Oversample = oversample, EntityType = options.EntityType };
            rows.Add((await MeasureAsync(table, model, queries, setting, truth, options.K, options.Confidence, cancellationToken).ConfigureAwait(false)).Row);
        }

        foreach (var efSearch in options.EfSearches)
        {
            var setting = new VectorSearchOptions { K = k, Path = SearchPath.Hnsw, EfSearch = efSearch, EntityType = options.EntityType };
            rows.Add((await MeasureAsync(table, model, queries, setting, truth, options.K, options.Confidence, cancellationToken).ConfigureAwait(false)).Row);
        }

        return new SearchTuningResult(model, options.K, options.TargetRecall, queries.Count, exactRow.P50Milliseconds, rows, Recommend(rows, options));
    }

    /// <summary>The first two-stage row (smallest oversample) whose recall's lower confidence bound reaches the target;
    /// else the first such HNSW row (smallest ef_search); else the row with the best recall.</summary>
    internal static SearchRecommendation Recommend(IReadOnlyList<SearchTuningRow> rows, SearchTunerOptions options)
    {
        var target = options.TargetRecall;
        var twoStage = rows.Where(r => r.Path == SearchPath.TwoStage).OrderBy(r => r.Oversample).ToList();
        var hnsw = rows.Where(r => r.Path == SearchPath.Hnsw).OrderBy(r => r.EfSearch).ToList();
        var bestTwoStage = twoStage.Count == 0 ? 0 : twoStage.Max(r => r.RecallAtK);
        var pick = twoStage.FirstOrDefault(r => r.RecallLowerBound >= target);
        var hnswPick = hnsw.FirstOrDefault(r => r.RecallLowerBound >= target);
        if (pick is not null)
        {
            var alternative = hnswPick is null ? string.Empty : string.Create(
                CultureInfo.InvariantCulture,
                $" Plain HNSW reaches it at ef_search {hnswPick.EfSearch} (p50 {hnswPick.P50Milliseconds:0.#} ms against {pick.P50Milliseconds:0.#} ms) with a larger index.");
            return new SearchRecommendation(SearchPath.TwoStage, pick.Oversample, VectorSearchDefaults.EfSearch, pick.RecallAtK, true, string.Create(
                CultureInfo.InvariantCulture,
                $"Two-stage search at oversample {pick.Oversample} is the smallest setting reaching recall@{options.K} {target:0.###} ({Recall(pick, options)}).{alternative}"));
        }

        pick = hnswPick;
        if (pick is not null)
        {
            return new SearchRecommendation(SearchPath.Hnsw, 1, pick.EfSearch, pick.RecallAtK, true, string.Create(
                CultureInfo.InvariantCulture,
                $"Binary quantization reaches at most recall@{options.K} {bestTwoStage:0.###} on this data; plain halfvec HNSW at ef_search {pick.EfSearch} reaches {Recall(pick, options)}."));
        }

        var best = rows.OrderByDescending(r => r.RecallLowerBound).ThenByDescending(r => r.RecallAtK).ThenBy(r => r.P50Milliseconds).First();
        return new SearchRecommendation(best.Path, best.Oversample, best.Path == SearchPath.Hnsw ? best.EfSearch : VectorSearchDefaults.EfSearch, best.RecallAtK, false, string.Create(
            CultureInfo.InvariantCulture,
            $"No measured setting reaches recall@{options.K} {target:0.###} with {options.Confidence:0.###} confidence; the best is {best.Path} at {Recall(best, options)}: try larger oversample or ef_search values, or exact search."));
    }

    private static string Recall(SearchTuningRow row, SearchTunerOptions options) => string.Create(
        CultureInfo.InvariantCulture,
        $"{row.RecallAtK:0.###} on the sample, at least {row.RecallLowerBound:0.###} with {options.Confidence:0.###} confidence");

    /// <summary>The one-sided lower confidence bound of the mean of <paramref name="values"/> (normal approximation:
    /// mean - z * standard error), clamped to [0, 1].</summary>
    internal static double LowerConfidenceBound(IReadOnlyList<double> values, double confidence)
    {
        if (values.Count == 0)
        {
            return 0;
        }

        var mean = values.Average();
        if (values.Count == 1)
        {
            return mean;
        }

        var variance = values.Sum(v => (v - mean) * (v - mean)) / (values.Count - 1);
        var standardError = Math.Sqrt(variance / values.Count);
        return Math.Clamp(mean - (NormalQuantile(confidence) * standardError), 0, 1);
    }

    /// <summary>The standard normal quantile for p in [0.5, 1) (Abramowitz and Stegun 26.2.23, error below 4.5e-4).</summary>
    internal static double NormalQuantile(double p)
    {
        var tail = 1 - p;
        if (tail >= 0.5)
        {
            return 0;
        }

        var t = Math.Sqrt(-2 * Math.Log(tail));
        return t - ((2.515517 + (0.802853 * t) + (0.010328 * t * t)) / (1 + (1.432788 * t) + (0.189269 * t * t) + (0.001308 * t * t * t)));
    }

    private async Task<(List<HashSet<string>> Results, SearchTuningRow Row)> MeasureAsync(
        EmbeddingTable table, string model, List<Sample> queries, VectorSearchOptions setting, List<HashSet<string>>? truth, int k, double confidence, CancellationToken cancellationToken)
    {
        var results = new List<HashSet<string>>(queries.Count);
        var latencies = new double[queries.Count];
        var recalls = new double[queries.Count];
        for (var i = 0; i < queries.Count; i++)
        {
            var query = queries[i];
            var started = _timeProvider.GetTimestamp();
            var result = await _search.SearchAsync(table, model, query.Vector, setting, null, cancellationToken).ConfigureAwait(false);
            latencies[i] = _timeProvider.GetElapsedTime(started).TotalMilliseconds;

            // Leave the query's own row out; keep k.
            var ids = new HashSet<string>(StringComparer.Ordinal);
            foreach (var hit in result.Hits)
            {
                if (ids.Count < k && !(hit.EntityType == query.EntityType && hit.EntityId == query.EntityId))
                {
                    ids.Add(hit.EntityType + "\0" + hit.EntityId);
                }
            }

            results.Add(ids);
            if (truth is not null)
            {
                var expected = truth[i];
                recalls[i] = expected.Count == 0 ? 1 : (double)ids.Count(expected.Contains) / expected.Count;
            }
        }

        Array.Sort(latencies);
        var row = new SearchTuningRow(
            setting.Path, setting.Path == SearchPath.TwoStage ? setting.Oversample : 1, setting.EfSearch,
            truth is null ? 1 : recalls.Average(), Percentile(latencies, 0.50), Percentile(latencies, 0.99))
        {
            RecallLowerBound = truth is null ? 1 : LowerConfidenceBound(recalls, confidence),
        };
        return (results, row);
    }

    private async Task<List<Sample>> SampleAsync(EmbeddingTable table, string model, SearchTunerOptions options, CancellationToken cancellationToken)
    {
        await using var command = _dataSource.CreateCommand(SampleSql(table));
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = model });
        command.Parameters.Add(new NpgsqlParameter<string?> { TypedValue = options.EntityType, NpgsqlDbType = NpgsqlDbType.Text });
        command.Parameters.Add(new NpgsqlParameter<long> { TypedValue = options.Seed });
        command.Parameters.Add(new NpgsqlParameter<int> { TypedValue = options.SampleSize });
        var samples = new List<Sample>(options.SampleSize);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            samples.Add(new Sample(reader.GetString(0), reader.GetString(1), reader.GetFieldValue<HalfVector>(2).Memory));
        }

        return samples;
    }

    /// <summary>
    /// Queries that are not stored points: each sampled vector moved, in a seeded random direction, by the distance to
    /// its nearest stored neighbour (found with HNSW), then normalized. A stored vector as the query flatters recall: the
    /// index holds it (HNSW reaches its neighbourhood through it, and its graph links are its neighbours), and asking for
    /// k + 1 to drop it gives two-stage a candidate list a tenth longer. On the search bench's 100,000 clustered vectors
    /// stored-vector queries measured two-stage recall@10 0.963 at oversample 48 where new points of the same clusters got
    /// 0.945 (docs/benchmarks.md). A moved point lies about as far from the data as a new one does.
    /// </summary>
    private async Task<List<Sample>> MoveOffTheIndexAsync(EmbeddingTable table, string model, List<Sample> samples, SearchTunerOptions options, CancellationToken cancellationToken)
    {
        var nearest = new VectorSearchOptions { K = 2, Path = SearchPath.Hnsw, EntityType = options.EntityType };
        var random = new Random(options.Seed);
        var moved = new List<Sample>(samples.Count);
        foreach (var sample in samples)
        {
            var result = await _search.SearchAsync(table, model, sample.Vector, nearest, null, cancellationToken).ConfigureAwait(false);
            var neighbour = result.Hits.FirstOrDefault(h => !(h.EntityType == sample.EntityType && h.EntityId == sample.EntityId));

            // Unit vectors at cosine similarity s lie sqrt(2 (1 - s)) apart.
            var distance = neighbour is null ? 0 : Math.Sqrt(Math.Max(0, 2 * (1 - neighbour.Score)));
            moved.Add(new Sample(null, null, Move(sample.Vector.Span, (float)distance, random)));
        }

        return moved;
    }

    /// <summary><paramref name="vector"/> normalized, plus <paramref name="distance"/> times a random unit direction
    /// (Gaussian components), normalized again.</summary>
    internal static Half[] Move(ReadOnlySpan<Half> vector, float distance, Random random)
    {
        var point = new float[vector.Length];
        var direction = new float[vector.Length];
        for (var i = 0; i < vector.Length; i++)
        {
            point[i] = (float)vector[i];

            // Box-Muller: a standard normal value from two uniform ones.
            direction[i] = (float)(Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble()));
        }

        Vectors.VectorMath.Normalize(point);
        Vectors.VectorMath.Normalize(direction);
        System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(direction, distance, point, point);
        var moved = new Half[vector.Length];
        Vectors.VectorMath.NormalizeToHalf(point, moved);
        return moved;
    }

    /// <summary>Nearest-rank percentile of sorted values.</summary>
    private static double Percentile(double[] sorted, double p) =>
        sorted.Length == 0 ? 0 : sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Length) - 1, 0, sorted.Length - 1)];

    private sealed record Sample(string? EntityType, string? EntityId, ReadOnlyMemory<Half> Vector);
}
