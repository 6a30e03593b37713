namespace EmbeddingKit.Bench;

/// <summary>The metrics of one scenario run, plus rows of a readable table.</summary>
internal sealed class BenchResult
{
    public Dictionary<string, double> Metrics { get; } = new(StringComparer.Ordinal);

    public List<string[]> Table { get; } = [];

    public string[]? TableHeader { get; set; }

    public Dictionary<string, string> Notes { get; } = new(StringComparer.Ordinal);
}
