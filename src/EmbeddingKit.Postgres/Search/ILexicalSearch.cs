namespace EmbeddingKit.Postgres.Search;

/// <summary>
/// The host's lexical search (for example <c>pg_trgm</c> or full-text search over its own tables), used as the
/// fallback for entities the active model has not embedded yet.
/// </summary>
public interface ILexicalSearch
{
    /// <summary>Returns up to <paramref name="k"/> entity ids of the type matching the query, best first.</summary>
    ValueTask<IReadOnlyList<string>> SearchAsync(string query, string entityType, int k, CancellationToken cancellationToken = default);
}
