using Npgsql;

namespace EmbeddingKit.TestInfrastructure.Postgres;

/// <summary>
/// The PostgreSQL a test run uses: <c>EMBEDDINGKIT_TEST_CONNECTION</c> when set (scripts/test sets it to one cluster for
/// all test projects), otherwise one cluster started for this process and stopped when it is disposed. There is no
/// fallback and no skipping: if no database can be had, every test that needs one fails.
/// </summary>
/// <remarks>Use it as an xUnit assembly fixture; each test class takes its own schema from <see cref="CreateSchemaAsync"/>.</remarks>
public sealed class PostgresServer : IAsyncDisposable
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private PostgresCluster? _cluster;
    private NpgsqlDataSource? _dataSource;
    private string? _connectionString;

    /// <summary>The environment variable that points tests at an existing PostgreSQL with pgvector.</summary>
    public const string ConnectionVariable = "EMBEDDINGKIT_TEST_CONNECTION";

    /// <summary>Returns the connection string, starting a cluster on first use when none was given.</summary>
    public async Task<string> GetConnectionStringAsync(CancellationToken cancellationToken = default)
    {
        if (_connectionString is not null)
        {
            return _connectionString;
        }

        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_connectionString is null)
            {
                var given = Environment.GetEnvironmentVariable(ConnectionVariable);
                if (string.IsNullOrWhiteSpace(given))
                {
                    _cluster = await PostgresCluster.StartAsync(cancellationToken).ConfigureAwait(false);
                    given = _cluster.ConnectionString;
                }

                await using (var dataSource = NpgsqlDataSource.Create(given))
                {
                    await using var command = dataSource.CreateCommand("CREATE EXTENSION IF NOT EXISTS vector");
                    try
                    {
                        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                    }
                    catch (PostgresException e) when (e.SqlState is PostgresErrorCodes.UniqueViolation or PostgresErrorCodes.DuplicateObject)
                    {
                        // Another test process created it at the same moment.
                    }
                }

                _connectionString = given;
            }

            return _connectionString;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>A shared data source for the server (the postgres database).</summary>
    public async Task<NpgsqlDataSource> GetDataSourceAsync(CancellationToken cancellationToken = default)
    {
        var connectionString = await GetConnectionStringAsync(cancellationToken).ConfigureAwait(false);
        if (_dataSource is null)
        {
            var builder = new NpgsqlDataSourceBuilder(connectionString);
            builder.UseVector();
            var created = builder.Build();
            if (Interlocked.CompareExchange(ref _dataSource, created, null) is not null)
            {
                await created.DisposeAsync().ConfigureAwait(false);
            }
        }

        return _dataSource!;
    }

    /// <summary>Returns a new, unique schema name for one test class (not yet created; migrations create it).</summary>
    public static string NewSchemaName(string prefix = "t") =>
        $"{prefix}_{Guid.NewGuid():N}"[..Math.Min(prefix.Length + 17, 63)];

    /// <summary>Creates a new, unique, empty schema and returns its name.</summary>
    public async Task<string> CreateSchemaAsync(string prefix = "t", CancellationToken cancellationToken = default)
    {
        var name = NewSchemaName(prefix);
        var dataSource = await GetDataSourceAsync(cancellationToken).ConfigureAwait(false);
        await using var command = dataSource.CreateCommand($"CREATE SCHEMA \"{name}\"");
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        return name;
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (_dataSource is not null)
        {
            await _dataSource.DisposeAsync().ConfigureAwait(false);
        }

        if (_cluster is not null)
        {
            await _cluster.DisposeAsync().ConfigureAwait(false);
        }

        _gate.Dispose();
    }
}
