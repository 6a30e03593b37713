using System.Globalization;
using Npgsql;

namespace EmbeddingKit.Postgres;

/// <summary>
/// The pgvector extension a database has (or offers), and what EmbeddingKit knows about that version: below
/// <see cref="ParallelHnswBuildFixed"/> a parallel HNSW build can overflow a buffer (CVE-2026-3172), so index builds run
/// without parallel workers; below <see cref="Recommended"/> HNSW vacuum can corrupt an index under concurrent inserts
/// and deletes, EmbeddingKit's normal workload, so <c>embeddingkit status</c> warns.
/// </summary>
/// <param name="Installed">The version created in the database (<c>pg_extension.extversion</c>), or null when the
/// extension is not created there yet.</param>
/// <param name="Available">The version <c>CREATE EXTENSION vector</c> would create (<c>default_version</c>), or null when
/// the server has no pgvector at all.</param>
public sealed record PgvectorVersion(Version? Installed, Version? Available)
{
    private const string Sql = "SELECT installed_version, default_version FROM pg_available_extensions WHERE name = 'vector'";

    /// <summary>The first version whose parallel HNSW builds are safe (CVE-2026-3172 fixed in 0.8.2).</summary>
    public static Version ParallelHnswBuildFixed { get; } = new(0, 8, 2);

    /// <summary>The first version without the known HNSW vacuum bugs (fixed across 0.8.3 and 0.8.4).</summary>
    public static Version Recommended { get; } = new(0, 8, 4);

    /// <summary>Gets the version in effect: the installed one, else the one that would be installed.</summary>
    public Version? Effective => Installed ?? Available;

    /// <summary>Gets whether HNSW indexes may be built with parallel workers.</summary>
    public bool AllowsParallelHnswBuild => Effective is { } v && v >= ParallelHnswBuildFixed;

    /// <summary>Gets a one-line warning when the version in effect has known defects, or null.</summary>
    public string? Warning => Effective switch
    {
        null => "the pgvector extension is not available on this server; install pgvector >= " + Recommended,
        var v when v < ParallelHnswBuildFixed =>
            $"pgvector {v} has CVE-2026-3172 (parallel HNSW builds; fixed in {ParallelHnswBuildFixed}) and HNSW vacuum bugs (fixed by {Recommended}): EmbeddingKit builds HNSW indexes without parallel workers; upgrade to pgvector >= {Recommended}",
        var v when v < Recommended =>
            $"pgvector {v} has HNSW vacuum bugs under concurrent inserts and deletes (fixed by {Recommended}); upgrade to pgvector >= {Recommended}",
        _ => null,
    };

    /// <summary>Reads the pgvector version of the database.</summary>
    /// <param name="dataSource">The database.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The installed and available versions.</returns>
    public static async ValueTask<PgvectorVersion> ReadAsync(NpgsqlDataSource dataSource, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(dataSource);
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        return await ReadAsync(connection, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Reads the pgvector version of the database on an open connection.</summary>
    /// <param name="connection">An open connection.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The installed and available versions.</returns>
    public static async ValueTask<PgvectorVersion> ReadAsync(NpgsqlConnection connection, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(connection);
        await using var command = new NpgsqlCommand(Sql, connection);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        if (!await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            return new PgvectorVersion(null, null);
        }

        return new PgvectorVersion(
            Parse(reader.IsDBNull(0) ? null : reader.GetString(0)),
            Parse(reader.IsDBNull(1) ? null : reader.GetString(1)));
    }

    /// <summary>Parses an extension version such as <c>0.8.0</c> (a suffix after <c>-</c> or <c>+</c> is ignored).</summary>
    /// <param name="text">The version text, or null.</param>
    /// <returns>The version, or null for null or unparsable text.</returns>
    internal static Version? Parse(string? text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return null;
        }

        var core = text.Split('-', '+')[0];
        return Version.TryParse(core, out var version) ? version
            : int.TryParse(core, NumberStyles.None, CultureInfo.InvariantCulture, out var major) ? new Version(major, 0) : null;
    }

    /// <inheritdoc />
    public override string ToString() => Effective?.ToString() ?? "none";
}
