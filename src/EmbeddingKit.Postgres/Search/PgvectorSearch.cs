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
public sealed class PgvectorSearch
{
    private readonly NpgsqlDataSource _dataSource;
    private readonly ConcurrentDictionary<(EmbeddingTable Table, string Model, SearchPath Path, bool ByType, bool ByIds), string> _statements = new();

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
        await RunAsync(table, model, query, options, transaction, explain: false, async reader =>
        {
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                hits.Add(new VectorSearchHit(reader.GetString(0), reader.GetString(1), reader.GetDouble(2)));
            }
        }, cancellationToken).ConfigureAwait(false);
        return new VectorSearchResult(model, options.Path, hits);
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
        }, cancellationToken).ConfigureAwait(false);
        return plan.ToString();
    }

    /// <summary>Returns the SQL of a search (the settings it runs with are not part of it); for logs and diagnostics.</summary>
    public string GetSql(EmbeddingTable table, string model, VectorSearchOptions options)
    {
        ArgumentNullException.ThrowIfNull(table);
        ArgumentException.ThrowIfNullOrEmpty(model);
        ArgumentNullException.ThrowIfNull(options);
        return StatementFor(table, model, options);
    }

    private async Task RunAsync(
        EmbeddingTable table, string model, ReadOnlyMemory<Half> query, VectorSearchOptions options, NpgsqlTransaction? transaction,
        bool explain, Func<NpgsqlDataReader, Task> read, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(table);
        ArgumentException.ThrowIfNullOrEmpty(model);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        ValidateQuery(table, query);

        var sql = StatementFor(table, model, options);
        NpgsqlConnection? owned = null;
        NpgsqlTransaction? ownTransaction = null;
        try
        {
            var connection = transaction?.Connection;
            if (connection is null)
            {
                owned = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
                connection = owned;
                ownTransaction = await owned.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            }

            // One round trip: the settings and the query (BEGIN goes with it when the transaction is ours).
            await using (var batch = new NpgsqlBatch(connection, transaction ?? ownTransaction))
            {
                foreach (var setting in Settings(options))
                {
                    batch.BatchCommands.Add(new NpgsqlBatchCommand(setting));
                }

                var command = new NpgsqlBatchCommand(explain ? "EXPLAIN " + sql : sql);
                command.Parameters.Add(new NpgsqlParameter<HalfVector> { TypedValue = new HalfVector(query), DataTypeName = "halfvec" });
                command.Parameters.Add(new NpgsqlParameter<int> { TypedValue = options.K });
                if (options.Path == SearchPath.TwoStage)
                {
                    command.Parameters.Add(new NpgsqlParameter<int> { TypedValue = options.IndexRows });
                }

                if (options.EntityType is not null)
                {
                    command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = options.EntityType });
                }

                if (options.EntityIds is not null)
                {
                    command.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = [.. options.EntityIds], NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text });
                }

                batch.BatchCommands.Add(command);
                await using var reader = await batch.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
                await read(reader).ConfigureAwait(false);
            }

            if (ownTransaction is not null)
            {
                await ownTransaction.CommitAsync(cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            if (ownTransaction is not null)
            {
                await ownTransaction.DisposeAsync().ConfigureAwait(false);
            }

            if (owned is not null)
            {
                await owned.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    private static List<string> Settings(VectorSearchOptions options)
    {
        var settings = new List<string>(3);
        if (options.Path == SearchPath.Exact)
        {
            settings.Add("SET LOCAL enable_indexscan = off");
            return settings;
        }

        var rows = options.IndexRows;
        var efSearch = Math.Min(Math.Max(rows, options.EfSearch), VectorSearchDefaults.MaxEfSearch);
        settings.Add(string.Create(CultureInfo.InvariantCulture, $"SET LOCAL hnsw.ef_search = {efSearch}"));
        if (options.EntityType is not null || options.EntityIds is not null || rows > efSearch)
        {
            settings.Add("SET LOCAL hnsw.iterative_scan = relaxed_order");
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

    private string StatementFor(EmbeddingTable table, string model, VectorSearchOptions options) => _statements.GetOrAdd(
        (table, model, options.Path, options.EntityType is not null, options.EntityIds is not null),
        static key => BuildSql(key.Table, key.Model, key.Path, key.ByType, key.ByIds));

    // Parameters: $1 query, $2 k, then $3 candidates (two-stage only), then entity type, then entity ids.
    private static string BuildSql(EmbeddingTable table, string model, SearchPath path, bool byType, bool byIds)
    {
        var next = path == SearchPath.TwoStage ? 4 : 3;
        var filter = new StringBuilder(EmbeddingTable.ModelPredicate(model));
        if (byType)
        {
            filter.Append(CultureInfo.InvariantCulture, $" AND entity_type = ${next++}");
        }

        if (byIds)
        {
            filter.Append(CultureInfo.InvariantCulture, $" AND entity_id = ANY(${next})");
        }

        var q = "$1::" + table.VectorType;
        var distance = $"embedding {table.DistanceOperator} {q}";
        var score = table.OperatorClass == HalfvecOperatorClass.Cosine ? "(1 - distance)::float8" : "(-distance)::float8";
        var dims = table.Dimensions.ToString(CultureInfo.InvariantCulture);
        return path switch
        {
            // The first stage repeats the index expression exactly, so the planner can use the partial BQ index;
            // MATERIALIZED keeps its LIMIT (and the relaxed order of an iterative scan) apart from the rescoring. The
            // fp16 distance is computed as each candidate leaves the index scan, so the candidates' vectors are never
            // copied into the CTE (12% faster at 640 candidates of 768 dimensions than materializing them).
            SearchPath.TwoStage => $"""
                WITH candidates AS MATERIALIZED (
                    SELECT entity_type, entity_id, {distance} AS distance FROM {table.QualifiedName}
                    WHERE {filter}
                    ORDER BY {table.BinaryQuantizedExpression} <~> binary_quantize({q})::bit({dims})
                    LIMIT $3
                )
                SELECT entity_type, entity_id, {score} FROM candidates
                ORDER BY distance
                LIMIT $2
                """,

            // MATERIALIZED, then sorted again: an iterative scan in relaxed order may return rows slightly out of order.
            _ => $"""
                WITH nearest AS MATERIALIZED (
                    SELECT entity_type, entity_id, {distance} AS distance FROM {table.QualifiedName}
                    WHERE {filter}
                    ORDER BY distance
                    LIMIT $2
                )
                SELECT entity_type, entity_id, {score} FROM nearest
                ORDER BY distance
                """,
        };
    }
}
