using Npgsql;

namespace EmbeddingKit.TestInfrastructure.Postgres;

/// <summary>
/// A hot standby of the test PostgreSQL (a loopback TCP server), started through <c>scripts/postgres standby</c>:
/// <c>pg_basebackup -R</c> run as the cluster's OS user, then streaming replication. Disposing it stops the standby and
/// deletes its folder; the primary is left as it was.
/// </summary>
public sealed class PostgresStandby : IAsyncDisposable
{
    private PostgresStandby(string dataDirectory, string connectionString)
    {
        DataDirectory = dataDirectory;
        ConnectionString = connectionString;
    }

    /// <summary>The standby's folder.</summary>
    public string DataDirectory { get; }

    /// <summary>A connection string for the standby (read-only sessions, <c>pg_is_in_recovery()</c> true).</summary>
    public string ConnectionString { get; }

    /// <summary>Starts a standby of the server <paramref name="primaryConnectionString"/> points at.</summary>
    public static async Task<PostgresStandby> StartAsync(string primaryConnectionString, CancellationToken cancellationToken = default)
    {
        var primary = new NpgsqlConnectionStringBuilder(primaryConnectionString);
        var directory = Path.Combine(Path.GetTempPath(), "embeddingkit-standby-" + Guid.NewGuid().ToString("N")[..12]);
        var output = await PostgresCluster.RunScriptAsync(
            ["standby", primary.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), directory], cancellationToken).ConfigureAwait(false);
        var connectionString = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)[^1];
        return new PostgresStandby(directory, connectionString);
    }

    /// <summary>Waits until the standby has replayed everything the primary had written when called.</summary>
    public async Task WaitForReplayAsync(NpgsqlDataSource primary, NpgsqlDataSource standby, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(primary);
        ArgumentNullException.ThrowIfNull(standby);
        await using var current = primary.CreateCommand("SELECT pg_current_wal_lsn()::text");
        var lsn = (string)(await current.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
        await using var replayed = standby.CreateCommand("SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn");
        replayed.Parameters.Add(new NpgsqlParameter<string> { TypedValue = lsn });
        while (await replayed.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) is not true)
        {
            await Task.Delay(20, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Stops the standby and deletes its folder.</summary>
    public async ValueTask DisposeAsync()
    {
        await PostgresCluster.RunScriptAsync(["destroy", DataDirectory]).ConfigureAwait(false);
    }
}
