using EmbeddingKit.Postgres.Search;
using EmbeddingKit.Postgres.Storage;
using Npgsql;

namespace EmbeddingKit.Bench.Scenarios.Quality;

/// <summary>What the systems of the <c>quality</c> scenario share: the database, its schema, a log, and figures they
/// report beside recall and MRR (for example documents per second).</summary>
internal sealed class QualityContext(NpgsqlDataSource dataSource, string schema, TextWriter log)
{
    private readonly Dictionary<int, EmbeddingTable> _tables = [];

    public NpgsqlDataSource DataSource { get; } = dataSource;

    public string Schema { get; } = schema;

    public TextWriter Log { get; } = log;

    public PgvectorSearch Search { get; } = new(dataSource);

    public EmbeddingIndexManager Indexes { get; } = new(dataSource);

    public Dictionary<string, double> Figures { get; } = new(StringComparer.Ordinal);

    /// <summary>The fusion tuner's latency budget (<c>--fusion-budget-ms</c>); null for its default.</summary>
    public TimeSpan? Budget { get; init; }

    /// <summary>The one table of <paramref name="dimensions"/>-dimensional vectors (one instance per size).</summary>
    public async Task<EmbeddingTable> TableAsync(int dimensions, CancellationToken cancellationToken)
    {
        if (!_tables.TryGetValue(dimensions, out var table))
        {
            table = new EmbeddingTable(Schema, dimensions);
            await Indexes.EnsureTableAsync(table, cancellationToken);
            _tables[dimensions] = table;
        }

        return table;
    }
}
