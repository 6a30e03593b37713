using Npgsql;

namespace EmbeddingKit.Postgres;

/// <summary>Releases a session-level advisory lock in a <c>finally</c> block.</summary>
internal static class PostgresSessionLock
{
    /// <summary>Runs <c>pg_advisory_unlock(key)</c> on an open connection; nothing on a lost one (its session, and the
    /// lock with it, ended on the server), so the error that lost it is the one the caller sees.</summary>
    /// <param name="connection">The connection that took the lock.</param>
    /// <param name="key">The lock's key.</param>
    public static async Task ReleaseAsync(NpgsqlConnection connection, long key)
    {
        if (connection.State != System.Data.ConnectionState.Open)
        {
            return;
        }

        await using var unlock = new NpgsqlCommand(Sql.Unlock, connection);
        unlock.Parameters.Add(new NpgsqlParameter<long> { TypedValue = key });
        await unlock.ExecuteNonQueryAsync(CancellationToken.None).ConfigureAwait(false);
    }

    /// <summary>The unlock statement (constant text; the key is a parameter).</summary>
    private static class Sql
    {
        public const string Unlock = "SELECT pg_advisory_unlock($1)";
    }
}
