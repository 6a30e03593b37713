using System.Globalization;
using System.Reflection;
using System.Text;
using Npgsql;

namespace EmbeddingKit.Postgres.Migrations;

/// <summary>
/// Applies EmbeddingKit's versioned, forward-only migrations into a schema the host names.
/// </summary>
/// <remarks>
/// The schema is created if needed; applied versions are recorded in <c>embeddingkit_migrations</c> in that schema.
/// Applying is idempotent and safe when several processes apply at once: a session advisory lock keyed by the schema
/// serializes them, and each migration runs in its own transaction (or, when its file starts with
/// <c>-- embeddingkit:no-transaction</c>, outside one, for <c>CREATE INDEX CONCURRENTLY</c>).
/// </remarks>
public static class EmbeddingKitMigrations
{
    private const string NoTransactionMarker = "-- embeddingkit:no-transaction";
    private static readonly Lazy<IReadOnlyList<Migration>> Embedded = new(LoadEmbedded);

    /// <summary>The migrations this version of EmbeddingKit ships, in order.</summary>
    public static IReadOnlyList<Migration> All => Embedded.Value;

    /// <summary>The newest migration version this version of EmbeddingKit ships.</summary>
    public static int LatestVersion => All[^1].Version;

    /// <summary>Applies every migration not yet applied to <paramref name="schema"/>.</summary>
    /// <param name="dataSource">The database.</param>
    /// <param name="schema">The host's schema: a plain identifier of at most 63 bytes.</param>
    /// <param name="cancellationToken">Cancels the wait for the lock and the migrations not yet started.</param>
    /// <returns>The versions applied by this call (empty when the schema was up to date).</returns>
    /// <exception cref="ArgumentException">The schema name is not a plain identifier; nothing was executed.</exception>
    public static async Task<IReadOnlyList<int>> ApplyAsync(NpgsqlDataSource dataSource, string schema, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(dataSource);
        var sql = new Sql(PostgresIdentifier.Quote(schema, nameof(schema)));
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        return await ApplyAsync(connection, schema, sql, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Returns the versions applied to <paramref name="schema"/> (empty if the schema or table is missing).</summary>
    public static async Task<IReadOnlyList<int>> GetAppliedVersionsAsync(NpgsqlDataSource dataSource, string schema, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(dataSource);
        var sql = new Sql(PostgresIdentifier.Quote(schema, nameof(schema)));
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        return await ReadAppliedAsync(connection, schema, sql, cancellationToken).ConfigureAwait(false);
    }

    private static async Task<IReadOnlyList<int>> ApplyAsync(NpgsqlConnection connection, string schema, Sql sql, CancellationToken cancellationToken)
    {
        var lockKey = AdvisoryLockKey(schema);
        await using (var lockCommand = new NpgsqlCommand(Sql.Lock, connection))
        {
            lockCommand.Parameters.Add(new NpgsqlParameter<long> { TypedValue = lockKey });
            await lockCommand.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        try
        {
            await using (var setup = new NpgsqlCommand(sql.Setup, connection))
            {
                await setup.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }

            var applied = (await ReadAppliedAsync(connection, schema, sql, cancellationToken).ConfigureAwait(false)).ToHashSet();
            var newlyApplied = new List<int>();
            foreach (var migration in All)
            {
                if (applied.Contains(migration.Version))
                {
                    continue;
                }

                await ApplyOneAsync(connection, sql, migration, cancellationToken).ConfigureAwait(false);
                newlyApplied.Add(migration.Version);
            }

            return newlyApplied;
        }
        finally
        {
            await PostgresSessionLock.ReleaseAsync(connection, lockKey).ConfigureAwait(false);
        }
    }

    private static async Task ApplyOneAsync(NpgsqlConnection connection, Sql sql, Migration migration, CancellationToken cancellationToken)
    {
        // Composed per migration: its embedded text and the row that records it run as one command.
        var record = $"INSERT INTO {sql.Migrations} (version, name) VALUES ({migration.Version.ToString(CultureInfo.InvariantCulture)}, {PostgresIdentifier.QuoteLiteral(migration.Name)});";
        if (migration.InTransaction)
        {
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            await using (var command = new NpgsqlCommand($"{sql.SetLocalSearchPath}\n{migration.Sql}\n{record}", connection, transaction))
            {
                await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }

            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        }
        else
        {
            // Statements such as CREATE INDEX CONCURRENTLY cannot run in a transaction; each statement runs on its own.
            await using (var path = new NpgsqlCommand(sql.SetSearchPath, connection))
            {
                await path.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }

            try
            {
                await using var command = new NpgsqlCommand($"{migration.Sql}\n{record}", connection);
                await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                if (connection.State == System.Data.ConnectionState.Open)
                {
                    await using var reset = new NpgsqlCommand(Sql.ResetSearchPath, connection);
                    await reset.ExecuteNonQueryAsync(CancellationToken.None).ConfigureAwait(false);
                }
            }
        }
    }

    private static async Task<IReadOnlyList<int>> ReadAppliedAsync(NpgsqlConnection connection, string schema, Sql sql, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(Sql.Exists, connection);
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = schema });
        if (await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) is not true)
        {
            return [];
        }

        await using var read = new NpgsqlCommand(sql.ReadApplied, connection);
        var versions = new List<int>();
        await using var reader = await read.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            versions.Add(reader.GetInt32(0));
        }

        return versions;
    }

    /// <summary>A stable 64-bit advisory lock key for a schema (<see cref="PostgresKeyHash"/> of "embeddingkit:migrate:" + schema).</summary>
    internal static long AdvisoryLockKey(string schema) => PostgresKeyHash.Compute("embeddingkit:migrate:" + schema);

    private static List<Migration> LoadEmbedded()
    {
        const string prefix = "EmbeddingKit.Postgres.Migrations.";
        var assembly = typeof(EmbeddingKitMigrations).Assembly;
        var migrations = new List<Migration>();
        foreach (var resource in assembly.GetManifestResourceNames().Where(r => r.StartsWith(prefix, StringComparison.Ordinal) && r.EndsWith(".sql", StringComparison.Ordinal)))
        {
            var fileName = resource[prefix.Length..^4];
            var separator = fileName.IndexOf('_', StringComparison.Ordinal);
            var version = int.Parse(fileName.AsSpan(0, separator), NumberStyles.None, CultureInfo.InvariantCulture);
            using var stream = assembly.GetManifestResourceStream(resource)!;
            using var reader = new StreamReader(stream, Encoding.UTF8);
            var sql = reader.ReadToEnd();
            migrations.Add(new Migration(version, fileName[(separator + 1)..], sql, !sql.StartsWith(NoTransactionMarker, StringComparison.Ordinal)));
        }

        migrations.Sort((a, b) => a.Version.CompareTo(b.Version));
        for (var i = 0; i < migrations.Count; i++)
        {
            if (migrations[i].Version != i + 1)
            {
                throw new InvalidOperationException($"EmbeddingKit migrations must be numbered 1..n without gaps; found {migrations[i].Version} at position {i + 1}.");
            }
        }

        return migrations;
    }

    /// <summary>The runner's bookkeeping statements, with the schema spliced in once (validated and quoted).</summary>
    private sealed class Sql(string schema)
    {
        public const string Lock = "SELECT pg_advisory_lock($1)";

        public const string ResetSearchPath = "RESET search_path";

        public const string Exists = """
            SELECT to_regclass(quote_ident($1) || '.embeddingkit_migrations') IS NOT NULL
            """;

        public string Migrations { get; } = schema + ".embeddingkit_migrations";

        public string Setup => field ??= $"""
            CREATE SCHEMA IF NOT EXISTS {schema};
            CREATE TABLE IF NOT EXISTS {schema}.embeddingkit_migrations (
                version    integer PRIMARY KEY,
                name       text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            );
            """;

        public string SetLocalSearchPath => field ??= $"SET LOCAL search_path TO {schema}, public;";

        public string SetSearchPath => field ??= $"SET search_path TO {schema}, public";

        public string ReadApplied => field ??= $"SELECT version FROM {Migrations} ORDER BY version";
    }
}
