using EmbeddingKit.Postgres.Search;
using EmbeddingKit.Postgres.Storage;

namespace EmbeddingKit.Cli.Infrastructure;

/// <summary>Tunes a model's search on its live vectors (indexes first) and saves the recommendation: for <c>tune</c>, and
/// as a quick tune on a sample for <c>models activate</c> and the demo, so that an activated model never searches with
/// settings that ignore its data.</summary>
internal static class SearchTuning
{
    /// <summary>Queries of the quick tune run on activation: enough to tell a collapsing binary quantization (recall
    /// 0.6 against 1.0 on the demo) from a working one, in a few seconds.</summary>
    public const int QuickSampleSize = 50;

    public static async Task<SearchTuningResult> TuneAsync(CliHost host, EmbeddingTable table, string model, SearchTunerOptions options, bool save, CancellationToken cancellationToken)
    {
        await ModelIndexes.EnsureAsync(host.DataSource, table, model, host.Time, cancellationToken);
        var result = await new SearchTuner(host.DataSource).TuneAsync(table, model, options, cancellationToken);
        if (save)
        {
            var recommendation = result.Recommendation;
            await host.Rollout.SaveSearchSettingsAsync(model, recommendation.Path, recommendation.Oversample, recommendation.EfSearch, recommendation.RecallAtK, cancellationToken);
        }

        return result;
    }
}
