using EmbeddingKit.TestInfrastructure.Postgres;

namespace EmbeddingKit.Bench;

/// <summary>What a scenario gets: a log writer (stderr when --json), arguments, and a lazily started PostgreSQL.</summary>
internal sealed class BenchContext : IAsyncDisposable
{
    private PostgresCluster? _cluster;

    public BenchContext(TextWriter log, IReadOnlyList<string> arguments)
    {
        Log = log;
        Arguments = arguments;
    }

    public TextWriter Log { get; }

    public IReadOnlyList<string> Arguments { get; }

    /// <summary>The number after <paramref name="name"/> on the command line (for example <c>--docs 2000</c>), or
    /// <paramref name="fallback"/>.</summary>
    public double Number(string name, double fallback)
    {
        for (var i = 0; i + 1 < Arguments.Count; i++)
        {
            if (Arguments[i] == name)
            {
                return double.Parse(Arguments[i + 1], System.Globalization.CultureInfo.InvariantCulture);
            }
        }

        return fallback;
    }

    /// <summary>The integer after <paramref name="name"/> on the command line, or <paramref name="fallback"/>.</summary>
    public int Integer(string name, int fallback) => (int)Number(name, fallback);

    /// <summary>Starts (once) a throwaway PostgreSQL with pgvector through scripts/postgres, or uses
    /// EMBEDDINGKIT_BENCH_CONNECTION when set.</summary>
    public async Task<string> GetConnectionStringAsync(CancellationToken cancellationToken)
    {
        var fromEnvironment = Environment.GetEnvironmentVariable("EMBEDDINGKIT_BENCH_CONNECTION");
        if (!string.IsNullOrEmpty(fromEnvironment))
        {
            return fromEnvironment;
        }

        _cluster ??= await PostgresCluster.StartAsync(cancellationToken);
        return _cluster.ConnectionString;
    }

    /// <summary>The cluster started for this run, if any (for tools such as pgbench).</summary>
    public PostgresCluster? Cluster => _cluster;

    public async ValueTask DisposeAsync()
    {
        if (_cluster is not null)
        {
            await _cluster.DisposeAsync();
        }
    }
}
