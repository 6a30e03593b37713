using System.Diagnostics;
using EmbeddingKit.Postgres.Search;
using EmbeddingKit.Postgres.Storage;
using EmbeddingKit.Runtime;
using EmbeddingKit.Storage;
using EmbeddingKit.Tasks;
using EmbeddingKit.Vectors;
using Npgsql;

namespace EmbeddingKit.Bench.Scenarios.Quality;

/// <summary>
/// A vector model as a retrieval system: documents embedded with the model's document prefix and stored as halfvec
/// through the storage, its HNSW and binary-quantized indexes built, and queries (with the query prefix) searched
/// exactly and two-stage with the setting <c>embeddingkit tune</c> would save (the tuner's recommendation on 100 stored
/// vectors).
/// </summary>
internal sealed class VectorQualitySystem(EmbeddingModel model) : IQualitySystem
{
    public const string Exact = "exact";
    public const string TwoStage = "two_stage";

    private QualityContext? _context;
    private EmbeddingTable? _table;
    private int _oversample = VectorSearchDefaults.Oversample;

    public string Name => model.Name;

    public IReadOnlyList<string> Paths { get; } = [Exact, TwoStage];

    public async Task PrepareAsync(QualityContext context, IReadOnlyList<QualityPair> pairs, CancellationToken cancellationToken)
    {
        _context = context;
        _table = await context.TableAsync(model.Dimensions, cancellationToken);
        var storage = new PgvectorEmbeddingStorage(context.DataSource, _ => _table);
        var watch = Stopwatch.StartNew();
        for (var start = 0; start < pairs.Count; start += 64)
        {
            var batch = pairs.Skip(start).Take(64).ToList();
            var vectors = await model.Generator.GenerateAsync(batch.Select(p => model.DocumentPrefix + p.Document), model.DocumentOptions, cancellationToken);
            var records = batch.Select((p, i) => new EmbeddingRecord(new EmbeddingTaskKey("quality", p.Id, model.Name), ToHalf(vectors[i].Vector.Span), ContentHash.Compute(model.Name, p.Document), 1)).ToList();
            await storage.UpsertAsync(records, cancellationToken);
        }

        context.Figures[$"{Key(Name)}_embed_docs_per_s"] = pairs.Count / watch.Elapsed.TotalSeconds;
        await context.Indexes.EnsureModelIndexesAsync(_table, model.Name, cancellationToken);
        await using (var command = context.DataSource.CreateCommand($"VACUUM ANALYZE {_table.QualifiedName}"))
        {
            await command.ExecuteNonQueryAsync(cancellationToken);
        }

        var tuning = await new SearchTuner(context.DataSource).TuneAsync(_table, model.Name, new SearchTunerOptions { SampleSize = 100 }, cancellationToken);
        var oversample = tuning.Recommendation.Path == SearchPath.TwoStage ? tuning.Recommendation.Oversample : VectorSearchDefaults.Oversample;
        _oversample = oversample;
        context.Figures[$"{Key(Name)}_two_stage_oversample"] = oversample;
        context.Log.WriteLine($"  {Name}: {pairs.Count / watch.Elapsed.TotalSeconds:0.0} docs/s embedded and stored; two-stage oversample {oversample} (tuner: {tuning.Recommendation.Path}, {tuning.Recommendation.Reason})");
    }

    public async Task<IReadOnlyList<string>> SearchAsync(string path, string query, int k, CancellationToken cancellationToken)
    {
        var embedded = await model.Generator.GenerateAsync([model.QueryPrefix + query], model.QueryOptions, cancellationToken);
        var options = path == Exact ? new VectorSearchOptions { K = k, Path = SearchPath.Exact } : new VectorSearchOptions { K = k, Path = SearchPath.TwoStage, Oversample = _oversample };
        var found = await _context!.Search.SearchAsync(_table!, model.Name, ToHalf(embedded[0].Vector.Span), options, cancellationToken: cancellationToken);
        return [.. found.Hits.Select(h => h.EntityId)];
    }

    internal static string Key(string name) => name.Replace('-', '_');

    private static Half[] ToHalf(ReadOnlySpan<float> vector)
    {
        var half = new Half[vector.Length];
        VectorMath.NormalizeToHalf(vector, half);
        return half;
    }
}
