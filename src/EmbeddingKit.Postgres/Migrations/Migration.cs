namespace EmbeddingKit.Postgres.Migrations;

/// <summary>One embedded migration.</summary>
/// <param name="Version">Its number, from 1 without gaps.</param>
/// <param name="Name">Its name, from the file name.</param>
/// <param name="Sql">Its SQL, run with <c>search_path</c> set to the host's schema.</param>
/// <param name="InTransaction">Whether it runs in a transaction (false for <c>CREATE INDEX CONCURRENTLY</c>).</param>
public sealed record Migration(int Version, string Name, string Sql, bool InTransaction);
