using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using EmbeddingKit.Postgres.Storage;
using Npgsql;
using NpgsqlTypes;
using Pgvector;

namespace EmbeddingKit.Postgres.Search;

/// <summary>
/// Nearest-neighbour queries over an <see cref="EmbeddingTable"/>: two-stage (binary-quantized Hamming candidates
/// rescored in fp16), plain HNSW on <c>halfvec</c>, or exact. Queries must be L2-normalized like the stored vectors.
/// </summary>
/// <remarks>
/// <para>Every search runs in a transaction that sets, with <c>SET LOCAL</c>, <c>hnsw.ef_search</c> to at least the
/// rows it needs from the index (pgvector returns at most <c>ef_search</c> rows, 40 by default, whatever the
/// <c>LIMIT</c>), and <c>hnsw.iterative_scan = relaxed_order</c> when it filters by entity type or ids (pgvector 0.8),
/// so a filter cannot starve the result.</para>
/// <para>The model is written into the SQL as a quoted literal, never as a parameter: the per-model indexes are partial
/// (<c>WHERE model = '…'</c>), and a generic plan of <c>model = $1</c>, which Npgsql's prepared statements get, can
/// never use them. The statements are built once per table, model and filter shape.</para>
/// </remarks>
public sealed partial class PgvectorSearch
{
    private readonly NpgsqlDataSource _dataSource;
    private readonly ConcurrentDictionary<(EmbeddingTable Table, string Model, SearchPath Path, bool ByType, bool ByIds, bool Count, ChunkGrouping Grouping, DocumentTextSource? Texts), string> _statements = new();

    /// <summary>Creates the search.</summary>
    /// <param name="dataSource">The database, built with <c>UseVector()</c> from the Pgvector package.</param>
    public PgvectorSearch(NpgsqlDataSource dataSource)
    {
        ArgumentNullException.ThrowIfNull(dataSource);
        _dataSource = dataSource;
    }

    /// <summary>Finds the stored vectors of <paramref name="model"/> nearest to <paramref name="query"/>.</summary>
    /// <param name="table">The table holding the model's vectors.</param>
    /// <param name="model">The model.</param>
    /// <param name="query">The L2-normalized query vector, of the table's dimensions.</param>
    /// <param name="options">Results, path, settings and filters; defaults when null.</param>
    /// <param name="transaction">Runs in the caller's transaction when given (its <c>SET LOCAL</c>s then last until that
    /// transaction ends); otherwise in a transaction of its own.</param>
    /// <param name="cancellationToken">Cancels the search.</param>
    /// <exception cref="InvalidVectorException">The query has the wrong length or a value that is not finite.</exception>
    public async ValueTask<VectorSearchResult> SearchAsync(
        EmbeddingTable table, string model, ReadOnlyMemory<Half> query, VectorSearchOptions? options = null,
        NpgsqlTransaction? transaction = null, CancellationToken cancellationToken = default)
    {
        options ??= new VectorSearchOptions();
        var hits = new List<VectorSearchHit>(options.K);
        var path = await RunAsync(table, model, query, options, transaction, explain: false, async reader =>
        {
            hits.Clear();
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                hits.Add(new VectorSearchHit(reader.GetString(0), reader.GetString(1), reader.GetDouble(2))
                {
                    Chunk = reader.GetInt32(3),
                    ChunkStart = reader.IsDBNull(4) ? null : reader.GetInt32(4),
                    ChunkLength = reader.IsDBNull(5) ? null : reader.GetInt32(5),
                    Text = options.Texts is null || reader.IsDBNull(6) ? null : reader.GetString(6),
                });
            }

            return hits.Count;
        }, cancellationToken).ConfigureAwait(false);
        return new VectorSearchResult(model, path, hits);
    }

    /// <summary>Finds the stored vectors nearest to a <see cref="HalfVector"/> query (see the other overload).</summary>
    public ValueTask<VectorSearchResult> SearchAsync(
        EmbeddingTable table, string model, HalfVector query, VectorSearchOptions? options = null,
        NpgsqlTransaction? transaction = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        return SearchAsync(table, model, query.Memory, options, transaction, cancellationToken);
    }

    /// <summary>Returns the plan (<c>EXPLAIN</c>, not executed) of the search <see cref="SearchAsync(EmbeddingTable, string,
    /// ReadOnlyMemory{Half}, VectorSearchOptions?, NpgsqlTransaction?, CancellationToken)"/> would run, with the same
    /// settings: to check which index answers.</summary>
    public async ValueTask<string> ExplainAsync(
        EmbeddingTable table, string model, ReadOnlyMemory<Half> query, VectorSearchOptions? options = null,
        NpgsqlTransaction? transaction = null, CancellationToken cancellationToken = default)
    {
        options ??= new VectorSearchOptions();
        var plan = new StringBuilder();
        await RunAsync(table, model, query, options, transaction, explain: true, async reader =>
        {
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                plan.AppendLine(reader.GetString(0));
            }

            return int.MaxValue;
        }, cancellationToken).ConfigureAwait(false);
        return plan.ToString();
    }

    /// <summary>Returns the SQL of a search (the settings it runs with are not part of it); for logs and diagnostics.</summary>
    internal string GetSql(EmbeddingTable table, string model, VectorSearchOptions options)
    {
        ArgumentNullException.ThrowIfNull(table);
        ArgumentException.ThrowIfNullOrEmpty(model);
        ArgumentNullException.ThrowIfNull(options);
        return StatementFor(table, model, options, options.Path);
    }

    // Runs the search and returns the path that answered. A filtered index search whose filter keeps too few rows for
    // an iterative scan to find them within hnsw.max_scan_tuples is answered exactly over the filtered rows; a filtered
    // index search that still comes back short is run again exactly. The count that decides goes in the same round trip
    // as the index search when the filter is by entity type only (usually not selective: one round trip in all), and
    // before it when entity ids are given (usually selective: the index search is then not run at all). In a transaction
    // of its own, BEGIN and COMMIT travel in the same round trips.
    private async Task<SearchPath> RunAsync(
        EmbeddingTable table, string model, ReadOnlyMemory<Half> query, VectorSearchOptions options, NpgsqlTransaction? transaction,
        bool explain, Func<NpgsqlDataReader, Task<int>> read, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(table);
        ArgumentException.ThrowIfNullOrEmpty(model);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        ValidateQuery(table, query);

        NpgsqlConnection? owned = null;
        try
        {
            var connection = transaction?.Connection;
            if (connection is null)
            {
                owned = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
                connection = owned;
            }

            var own = owned is not null;
            var filtered = options.EntityType is not null || options.EntityIds is not null;
            var path = options.Path;
            var counted = filtered && path != SearchPath.Exact;
            if (counted && (explain || options.EntityIds is not null))
            {
                var (rows, selective) = await CountFilteredAsync(connection, transaction, table, model, options, cancellationToken).ConfigureAwait(false);
                path = selective ? SearchPath.Exact : path;
                var count = await ExecuteAsync(connection, transaction, own, table, model, query, options, path, explain, null, read, cancellationToken).ConfigureAwait(false);
                return explain || path == SearchPath.Exact || count >= options.K || rows <= count
                    ? path
                    : await RunExactAsync().ConfigureAwait(false);
            }

            if (!counted)
            {
                await ExecuteAsync(connection, transaction, own, table, model, query, options, path, explain, null, read, cancellationToken).ConfigureAwait(false);
                return path;
            }

            var filter = new FilterCount();
            var found = await ExecuteAsync(connection, transaction, own, table, model, query, options, path, explain, filter, read, cancellationToken).ConfigureAwait(false);
            return filter.Selective || (found < options.K && filter.Rows > found) ? await RunExactAsync().ConfigureAwait(false) : path;

            async Task<SearchPath> RunExactAsync()
            {
                await ExecuteAsync(connection, transaction, own, table, model, query, options, SearchPath.Exact, explain: false, null, read, cancellationToken).ConfigureAwait(false);
                return SearchPath.Exact;
            }
        }
        finally
        {
            if (owned is not null)
            {
                await owned.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    // One round trip: BEGIN (when the transaction is ours), the settings, the filter count (when asked), the query, and
    // COMMIT. A failure leaves the transaction open; closing the connection rolls it back.
    private async Task<int> ExecuteAsync(
        NpgsqlConnection connection, NpgsqlTransaction? transaction, bool ownTransaction, EmbeddingTable table, string model, ReadOnlyMemory<Half> query,
        VectorSearchOptions options, SearchPath path, bool explain, FilterCount? filter, Func<NpgsqlDataReader, Task<int>> read, CancellationToken cancellationToken)
    {
        var sql = StatementFor(table, model, options, path);
        await using var batch = new NpgsqlBatch(connection, transaction);
        if (ownTransaction)
        {
            batch.BatchCommands.Add(new NpgsqlBatchCommand(Sql.Begin));
        }

        foreach (var setting in Settings(options, path))
        {
            batch.BatchCommands.Add(new NpgsqlBatchCommand(setting));
        }

        if (filter is not null)
        {
            var count = new NpgsqlBatchCommand(CountStatementFor(table, model, options));
            AddCountParameters(count.Parameters, table, options);
            batch.BatchCommands.Add(count);
        }

        var command = new NpgsqlBatchCommand(explain ? "EXPLAIN " + sql : sql);
        command.Parameters.Add(new NpgsqlParameter<HalfVector> { TypedValue = new HalfVector(query), DataTypeName = "halfvec" });
        command.Parameters.Add(new NpgsqlParameter<int> { TypedValue = options.K });
        command.Parameters.Add(new NpgsqlParameter<int> { TypedValue = path == SearchPath.Exact ? options.K * options.ChunkOversample : options.IndexRows });

        AddFilterParameters(command.Parameters, options);
        batch.BatchCommands.Add(command);
        if (ownTransaction)
        {
            batch.BatchCommands.Add(new NpgsqlBatchCommand(Sql.Commit));
        }

        await using var reader = await batch.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        if (filter is not null)
        {
            await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            filter.Rows = reader.GetInt64(0);
            filter.Selective = filter.Rows <= reader.GetInt64(1);
            await reader.NextResultAsync(cancellationToken).ConfigureAwait(false);
        }

        var rows = await read(reader).ConfigureAwait(false);
        while (await reader.NextResultAsync(cancellationToken).ConfigureAwait(false))
        {
            // COMMIT returns no rows; reading on makes its error, if any, surface here.
        }

        return rows;
    }

    private static void AddCountParameters(NpgsqlParameterCollection parameters, EmbeddingTable table, VectorSearchOptions options)
    {
        parameters.Add(new NpgsqlParameter<string> { TypedValue = table.QualifiedName });
        parameters.Add(new NpgsqlParameter<int> { TypedValue = options.IndexRows });
        parameters.Add(new NpgsqlParameter<int> { TypedValue = VectorSearchDefaults.MaxExactFilterRows });
        AddFilterParameters(parameters, options);
    }

    private static void AddFilterParameters(NpgsqlParameterCollection parameters, VectorSearchOptions options)
    {
        if (options.EntityType is not null)
        {
            parameters.Add(new NpgsqlParameter<string> { TypedValue = options.EntityType });
        }

        if (options.EntityIds is not null)
        {
            parameters.Add(new NpgsqlParameter<string[]> { TypedValue = [.. options.EntityIds], NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text });
        }
    }

    /// <summary>
    /// Counts the rows the filter keeps, up to the most an iterative scan could be sure to reach: with <c>F</c> of the
    /// table's <c>N</c> rows passing, a scan visits about <c>rows × N / F</c> tuples to find <c>rows</c>, and stops at
    /// <c>hnsw.max_scan_tuples</c> (<c>M</c>). The filter is selective when <c>F ≤ rows × N / M</c> (and at most
    /// <see cref="VectorSearchDefaults.MaxExactFilterRows"/>): those rows are then scored exactly. <c>N</c> is the
    /// planner's estimate for the whole table (every model in it), an upper bound, so the count stays cheap: it stops at
    /// that bound, and the rows it returns are then a lower bound of the filtered rows. On a small table the bound is 0
    /// and one row is counted: the scan can reach every row anyway.
    /// </summary>
    private async Task<(long Rows, bool Selective)> CountFilteredAsync(
        NpgsqlConnection connection, NpgsqlTransaction? transaction, EmbeddingTable table, string model, VectorSearchOptions options, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(CountStatementFor(table, model, options), connection, transaction);
        AddCountParameters(command.Parameters, table, options);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
        var rows = reader.GetInt64(0);
        var bound = reader.GetInt64(1);
        return (rows, rows <= bound);
    }

    private static List<string> Settings(VectorSearchOptions options, SearchPath path)
    {
        var settings = new List<string>(3);
        if (path == SearchPath.Exact)
        {
            return settings;
        }

        var rows = options.IndexRows;
        var efSearch = Math.Min(Math.Max(rows, options.EfSearch), VectorSearchDefaults.MaxEfSearch);
        // Composed per call: the value is the search's (SET takes no parameters).
        settings.Add(string.Create(CultureInfo.InvariantCulture, $"SET LOCAL hnsw.ef_search = {efSearch}"));
        if (options.EntityType is not null || options.EntityIds is not null || rows > efSearch)
        {
            settings.Add(Sql.RelaxedOrder);
        }

        return settings;
    }

    private static void ValidateQuery(EmbeddingTable table, ReadOnlyMemory<Half> query)
    {
        if (query.Length != table.Dimensions)
        {
            throw new InvalidVectorException($"The query vector has {query.Length} dimensions, but {table} holds halfvec({table.Dimensions}).");
        }

        var span = query.Span;
        for (var i = 0; i < span.Length; i++)
        {
            if (!Half.IsFinite(span[i]))
            {
                throw new InvalidVectorException($"The query vector holds {span[i]} at index {i}; only finite fp16 values can be searched.");
            }
        }
    }

    /// <summary>The cached search statements (one per table, model, path and filter shape: a bound the soak test holds it
    /// to).</summary>
    internal int CachedStatements => _statements.Count;

    private string StatementFor(EmbeddingTable table, string model, VectorSearchOptions options, SearchPath path) => _statements.GetOrAdd(
        (table, model, path, options.EntityType is not null, options.EntityIds is not null, false, options.Grouping, options.Texts),
        static key => BuildSql(key.Table, key.Model, key.Path, key.ByType, key.ByIds, key.Grouping, key.Texts));

    private string CountStatementFor(EmbeddingTable table, string model, VectorSearchOptions options) => _statements.GetOrAdd(
        (table, model, SearchPath.Exact, options.EntityType is not null, options.EntityIds is not null, true, ChunkGrouping.BestChunk, null),
        static key => BuildCountSql(key.Table, key.Model, key.ByType, key.ByIds));

    // Parameters: $1 the table's qualified name, $2 rows the index must yield, $3 the most rows to score exactly, then
    // entity type, then entity ids. Returns the filtered rows counted up to bound + 1, and the bound.
    private static string BuildCountSql(EmbeddingTable table, string model, bool byType, bool byIds) => $"""
        WITH bound AS (
            SELECT least($3::float8, floor($2 * greatest(c.reltuples, 0)
                / coalesce(nullif(current_setting('hnsw.max_scan_tuples', true), '')::float8, 20000)))::int8 AS rows
            FROM pg_class c WHERE c.oid = to_regclass($1)
        )
        SELECT (SELECT count(*) FROM (
                    SELECT 1 FROM {table.QualifiedName} WHERE {Filter(model, byType, byIds, 4)}
                    LIMIT (SELECT rows + 1 FROM bound)) f),
               (SELECT rows FROM bound)
        """;

    private static string Filter(string model, bool byType, bool byIds, int next)
    {
        var filter = new StringBuilder(EmbeddingTable.ModelPredicate(model));
        if (byType)
        {
            filter.Append(CultureInfo.InvariantCulture, $" AND entity_type = ${next++}");
        }

        if (byIds)
        {
            filter.Append(CultureInfo.InvariantCulture, $" AND entity_id = ANY(${next})");
        }

        return filter.ToString();
    }

    // Parameters: $1 query, $2 k (entities), $3 rows from the index (two-stage candidates, or chunks), then entity type,
    // then entity ids.
    private static string BuildSql(EmbeddingTable table, string model, SearchPath path, bool byType, bool byIds, ChunkGrouping grouping, DocumentTextSource? texts)
    {
        var filter = Filter(model, byType, byIds, 4);

        var q = "$1::" + table.VectorType;
        var distance = $"embedding {table.DistanceOperator} {q}";
        var score = table.OperatorClass == HalfvecOperatorClass.Cosine ? "(1 - distance)::float8" : "(-distance)::float8";
        var dims = table.Dimensions.ToString(CultureInfo.InvariantCulture);
        var rows = path switch
        {
            // The first stage repeats the index expression exactly, so the planner can use the partial BQ index;
            // MATERIALIZED keeps its LIMIT (and the relaxed order of an iterative scan) apart from the rescoring. The
            // fp16 distance is computed as each candidate leaves the index scan, so the candidates' vectors are never
            // copied into the CTE (12% faster at 640 candidates of 768 dimensions than materializing them).
            SearchPath.TwoStage => $"""
                SELECT entity_type, entity_id, chunk, chunk_start, chunk_length, {distance} AS distance FROM {table.QualifiedName}
                WHERE {filter}
                ORDER BY {table.BinaryQuantizedExpression} <~> binary_quantize({q})::bit({dims})
                LIMIT $3
                """,

            // Exact search orders by (distance) + 0, an expression no vector index matches, so it needs no planner
            // setting (which would outlive the search in a caller's transaction) and the filter may still use the
            // primary key.
            _ => $"""
                SELECT entity_type, entity_id, chunk, chunk_start, chunk_length, {(path == SearchPath.Exact ? $"({distance}) + 0" : distance)} AS distance FROM {table.QualifiedName}
                WHERE {filter}
                ORDER BY distance
                LIMIT $3
                """,
        };

        // The index yields chunks (MATERIALIZED keeps its LIMIT, and the relaxed order of an iterative scan, apart);
        // they are grouped by entity over those few rows only, so the index scan stays as it was.
        return $"""
            WITH nearest AS MATERIALIZED (
                {rows}
            )
            {Grouped("nearest", grouping, score, "$2", texts)}
            """;
    }

    /// <summary>Entities from the chunk rows of <paramref name="source"/> (entity_type, entity_id, chunk, chunk_start,
    /// chunk_length, distance): each entity's best chunk with the entity's distance by <paramref name="grouping"/>, nearest
    /// first, at most <paramref name="limit"/>; columns entity_type, entity_id, <paramref name="score"/> (over
    /// <c>distance</c>), chunk, chunk_start, chunk_length, and the document's text when <paramref name="texts"/> is given
    /// (joined to the few entities only).</summary>
    private static string Grouped(string source, ChunkGrouping grouping, string score, string limit, DocumentTextSource? texts = null)
    {
        var entityDistance = grouping == ChunkGrouping.MeanOfTopTwo ? "(g.distance + coalesce(g.second, g.distance)) / 2" : "g.distance";
        return $"""
            SELECT e.entity_type, e.entity_id, {score.Replace("distance", "e.distance", StringComparison.Ordinal)}, e.chunk, e.chunk_start, e.chunk_length{(texts is null ? string.Empty : ", " + texts.Column)} FROM (
                SELECT g.entity_type, g.entity_id, g.chunk, g.chunk_start, g.chunk_length, {entityDistance} AS distance FROM (
                    SELECT s.*, row_number() OVER w AS best, lead(s.distance) OVER w AS second FROM {source} s
                    WINDOW w AS (PARTITION BY s.entity_type, s.entity_id ORDER BY s.distance, s.chunk)
                ) g
                WHERE g.best = 1
            ) e
            {texts?.Join("e")}
            ORDER BY e.distance, e.entity_id
            LIMIT {limit}
            """;
    }

    // What the filter count found, when it ran in the search's round trip.
    private sealed class FilterCount
    {
        public long Rows { get; set; }

        public bool Selective { get; set; }
    }

    /// <summary>The constant statements of a search's round trip (the search statements themselves are composed per
    /// shape and cached).</summary>
    private static class Sql
    {
        public const string Begin = "BEGIN";

        public const string Commit = "COMMIT";

        public const string RelaxedOrder = "SET LOCAL hnsw.iterative_scan = relaxed_order";
    }
}
