using EmbeddingKit.Postgres;
using Npgsql;

namespace EmbeddingKit.Cli.Infrastructure;

/// <summary>The pgvector part of <c>status</c> and <c>migrate</c>: the version and, for versions with known defects, a
/// warning (also written to standard error).</summary>
/// <param name="Version">The version created in the database, or null when not created yet.</param>
/// <param name="Available">The version the server would create.</param>
/// <param name="Warning">What is wrong with the version in effect, or null.</param>
internal sealed record PgvectorStatus(string? Version, string? Available, string? Warning)
{
    public static async Task<PgvectorStatus> ReadAsync(NpgsqlDataSource dataSource, CancellationToken cancellationToken)
    {
        var version = await PgvectorVersion.ReadAsync(dataSource, cancellationToken);
        var status = new PgvectorStatus(version.Installed?.ToString(), version.Available?.ToString(), version.Warning);
        if (status.Warning is { } warning)
        {
            Console.Error.WriteLine($"warning: {warning}");
        }

        return status;
    }
}
