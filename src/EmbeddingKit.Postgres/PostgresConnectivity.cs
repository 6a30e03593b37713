using Npgsql;

namespace EmbeddingKit.Postgres;

/// <summary>Tells a database that is not reachable yet from one that refuses the connection for good.</summary>
public static class PostgresConnectivity
{
    /// <summary>
    /// Whether waiting may help: a refused or timed-out connection, a server starting up or shutting down, too many
    /// connections. Not a wrong password, a missing database or a failing statement. EmbeddingKit's own start-up waits
    /// (the CLI's <c>work --wait-for-database</c>, <c>UsePostgres(applyMigrationsOnStart: true)</c>) retry only these.
    /// </summary>
    /// <param name="exception">What opening a connection threw.</param>
    /// <returns>Whether to retry later.</returns>
    public static bool IsUnreachable(Exception exception) => exception switch
    {
        PostgresException postgres => postgres.IsTransient || postgres.SqlState is PostgresErrorCodes.CannotConnectNow or PostgresErrorCodes.AdminShutdown,
        NpgsqlException npgsql => npgsql.IsTransient || npgsql.InnerException is System.Net.Sockets.SocketException or TimeoutException or IOException,
        _ => exception is TimeoutException or System.Net.Sockets.SocketException,
    };
}
