using System.Collections.Concurrent;
using EmbeddingKit.Postgres.Tasks;
using EmbeddingKit.Storage;
using EmbeddingKit.Tasks;
using Npgsql;
using NpgsqlTypes;
using Pgvector;

namespace EmbeddingKit.Postgres.Storage;

/// <summary>
/// The reference <see cref="IEmbeddingStorage"/> on pgvector: <c>halfvec(K)</c> rows in <see cref="EmbeddingTable"/>s
/// (one per dimension count), each model mapped to its table by a resolver. Every write is guarded by generation, so an
/// older generation never overwrites, touches or deletes a newer one.
/// </summary>
/// <remarks>
/// Small batches are written with one <c>INSERT … SELECT FROM unnest(…)</c> statement (a <c>halfvec[]</c> parameter);
/// batches of <see cref="CopyThreshold"/> rows or more for one table go through binary <c>COPY</c> into a temporary table
/// and one <c>INSERT … SELECT … ON CONFLICT</c>. A batch spanning several tables is written in one transaction. The
/// data source must be built with <c>UseVector()</c>. Thread-safe; share one instance.
/// </remarks>
public sealed partial class PgvectorEmbeddingStorage : IEmbeddingStorage
{
    private readonly NpgsqlDataSource _dataSource;
    private readonly Func<string, EmbeddingTable?> _tableForModel;
    private readonly ConcurrentDictionary<EmbeddingTable, Sql> _statements = new();

    /// <summary>Creates the storage.</summary>
    /// <param name="dataSource">The database, built with <c>UseVector()</c> from the Pgvector package.</param>
    /// <param name="tableForModel">Returns the table of a model, or null for a model the storage does not know.</param>
    public PgvectorEmbeddingStorage(NpgsqlDataSource dataSource, Func<string, EmbeddingTable?> tableForModel)
    {
        ArgumentNullException.ThrowIfNull(dataSource);
        ArgumentNullException.ThrowIfNull(tableForModel);
        _dataSource = dataSource;
        _tableForModel = tableForModel;
    }

    /// <summary>Creates the storage over a fixed map of model name to table.</summary>
    /// <param name="dataSource">The database, built with <c>UseVector()</c> from the Pgvector package.</param>
    /// <param name="tables">The table of each model.</param>
    public PgvectorEmbeddingStorage(NpgsqlDataSource dataSource, IReadOnlyDictionary<string, EmbeddingTable> tables)
        : this(dataSource, Lookup(tables))
    {
    }

    /// <summary>Gets the number of rows for one table from which an upsert uses binary <c>COPY</c> instead of one
    /// <c>unnest</c> statement. Default <see cref="DefaultCopyThreshold"/>.</summary>
    public int CopyThreshold
    {
        get;
        init => field = value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(value), value, "The COPY threshold must be at least 1.");
    } = DefaultCopyThreshold;

    /// <summary>The default of <see cref="CopyThreshold"/>: 1,024 rows. Measured on 1536-d rows (docs/benchmarks.md), one
    /// <c>unnest</c> statement (one round trip) beats COPY (temporary table, COPY, merge: four) up to a few hundred rows,
    /// they are even around 1,024, and COPY wins on larger batches.</summary>
    public const int DefaultCopyThreshold = 1024;

    /// <summary>
    /// Gets the schema of the <see cref="Tasks.PostgresEmbeddingTaskQueue"/> whose tasks guard the writes, or null (the
    /// default) for unguarded writes. When set, an upsert writes a vector only while the queue still holds a task of the
    /// same key and generation, checked and share-locked in the same statement: a worker that froze past its lease while
    /// the entity was deleted (a newer generation), its task cancelled or its model retired writes nothing when it
    /// resumes, instead of inserting a vector that nothing would ever delete. Every write the runtime makes comes from a
    /// claimed task, so the composition roots (<c>UsePostgres</c>, the CLI) set it; leave it null to write vectors that no
    /// queue task stands behind.
    /// </summary>
    public string? TaskQueueSchema
    {
        get;
        init => field = value is null ? null : PostgresIdentifier.Validate(value, nameof(value));
    }

    /// <summary>
    /// Gets the schema of the lexical index (migration 4, <c>embeddingkit_lexical_documents</c>), or null (the default)
    /// for none. When set, every vector written for a text document writes the entity's full-text document in the same
    /// statement (one per entity, whatever the model; the title weighted above the text, with the entity type's text
    /// search configuration), guarded by generation like the vector; a delete removes it with the vector; and
    /// <see cref="GetStatesAsync"/> says whether it is stored, so that unchanged content stored before the index
    /// existed gets its document without a provider call. The composition roots (<c>UsePostgres</c>, the CLI) set it.
    /// </summary>
    public string? LexicalSchema
    {
        get;
        init => field = value is null ? null : PostgresIdentifier.Validate(value, nameof(value));
    }

    /// <summary>Gets the database.</summary>
    internal NpgsqlDataSource DataSource => _dataSource;

    /// <summary>Returns the table of <paramref name="model"/>.</summary>
    /// <exception cref="ArgumentException">The resolver knows no table for the model.</exception>
    public EmbeddingTable GetTable(string model)
    {
        ArgumentNullException.ThrowIfNull(model);
        return _tableForModel(model) ?? throw new ArgumentException($"No embedding table is configured for model '{model}'.", nameof(model));
    }

    /// <inheritdoc />
    public async ValueTask<IReadOnlyDictionary<string, StoredEmbeddingState>> GetStatesAsync(
        string entityType, string model, IReadOnlyCollection<string> entityIds, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(entityType);
        ArgumentNullException.ThrowIfNull(entityIds);
        var sql = StatementsFor(GetTable(model));
        var states = new Dictionary<string, StoredEmbeddingState>(entityIds.Count, StringComparer.Ordinal);
        if (entityIds.Count == 0)
        {
            return states;
        }

        await using var command = _dataSource.CreateCommand(sql.GetStates);
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = entityType });
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = model });
        command.Parameters.Add(Text([.. entityIds]));
        var chunks = new Dictionary<string, (List<StoredChunk> Chunks, bool? HasLexical)>(entityIds.Count, StringComparer.Ordinal);
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
        {
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                var id = reader.GetString(0);
                if (!chunks.TryGetValue(id, out var entry))
                {
                    chunks[id] = entry = ([], sql.Lexical is null ? null : reader.GetBoolean(6));
                }

                entry.Chunks.Add(new StoredChunk(
                    reader.GetInt32(3), reader.GetFieldValue<byte[]>(1), reader.GetInt64(2),
                    reader.IsDBNull(4) ? null : reader.GetInt32(4), reader.IsDBNull(5) ? null : reader.GetInt32(5)));
            }
        }

        foreach (var (id, (list, hasLexical)) in chunks)
        {
            states[id] = new StoredEmbeddingState(list[0].ContentHash, list.Min(c => c.Generation)) { HasLexical = hasLexical, Chunks = list };
        }

        return states;
    }

    /// <inheritdoc />
    /// <exception cref="InvalidVectorException">A vector's length is not its table's dimensions, or it holds NaN or an
    /// infinity; nothing of the batch is written.</exception>
    public async ValueTask<int> UpsertAsync(IReadOnlyList<EmbeddingRecord> records, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(records);
        if (records.Count == 0)
        {
            return 0;
        }

        var groups = new Dictionary<EmbeddingTable, Dictionary<(EmbeddingTaskKey, int), EmbeddingRecord>>();
        for (var i = 0; i < records.Count; i++)
        {
            var record = records[i] ?? throw new ArgumentException($"Record {i} is null.", nameof(records));
            var table = TableFor(record.Key);
            Validate(record, table);
            if (!groups.TryGetValue(table, out var group))
            {
                groups[table] = group = [];
            }

            // ON CONFLICT cannot touch one row twice: keep the newest generation of a key (the last one on a tie).
            if (!group.TryGetValue((record.Key, record.Chunk), out var seen) || seen.Generation <= record.Generation)
            {
                group[(record.Key, record.Chunk)] = record;
            }
        }

        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        if (groups.Count == 1)
        {
            var (table, group) = groups.First();
            if (group.Count < CopyThreshold)
            {
                return await UpsertUnnestAsync(connection, null, table, group.Values, cancellationToken).ConfigureAwait(false);
            }
        }

        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        var written = 0;
        var copies = 0;
        foreach (var (table, group) in groups)
        {
            written += group.Count < CopyThreshold
                ? await UpsertUnnestAsync(connection, transaction, table, group.Values, cancellationToken).ConfigureAwait(false)
                : await UpsertCopyAsync(connection, transaction, table, group.Values, copies++, cancellationToken).ConfigureAwait(false);
        }

        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        return written;
    }

    /// <inheritdoc />
    public async ValueTask<int> WriteLexicalAsync(
        IReadOnlyList<(EmbeddingTaskKey Key, long Generation, LexicalDocument Document)> documents, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(documents);
        if (documents.Count == 0 || LexicalSchema is null)
        {
            return 0;
        }

        await using var command = _dataSource.CreateCommand(LexicalSql!.Upsert);
        command.Parameters.Add(Text([.. documents.Select(d => d.Key.EntityType)]));
        command.Parameters.Add(Text([.. documents.Select(d => d.Key.EntityId)]));
        command.Parameters.Add(new NpgsqlParameter<long[]> { TypedValue = [.. documents.Select(d => d.Generation)] });
        command.Parameters.Add(Text([.. documents.Select(d => d.Document.Text)]));
        command.Parameters.Add(Text([.. documents.Select(d => d.Document.Title)!]));
        return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public ValueTask<int> TouchAsync(IReadOnlyList<(EmbeddingTaskKey Key, long Generation)> keys, CancellationToken cancellationToken = default) =>
        ByKeyAsync(keys, static sql => sql.Touch, cancellationToken);

    /// <inheritdoc />
    public ValueTask<int> DeleteAsync(IReadOnlyList<(EmbeddingTaskKey Key, long Generation)> keys, CancellationToken cancellationToken = default) =>
        ByKeyAsync(keys, static sql => sql.Delete, cancellationToken, deleteLexical: true);

    /// <summary>Counts the entities with vectors stored for a model and entity type (the numerator of a model's coverage;
    /// a chunked entity counts once).</summary>
    public async ValueTask<long> CountAsync(string entityType, string model, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(entityType);
        await using var command = _dataSource.CreateCommand(StatementsFor(GetTable(model)).Count);
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = entityType });
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = model });
        return (long)(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
    }

    /// <summary>Lists the entity ids (once each, however many chunks) stored for a model and entity type in ordinal order, one page at a time (keyset
    /// pagination: pass the last id of a page as <paramref name="after"/> to get the next).</summary>
    public async ValueTask<IReadOnlyList<string>> ListEntityIdsAsync(
        string entityType, string model, string? after = null, int limit = 1000, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(entityType);
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        await using var command = _dataSource.CreateCommand(StatementsFor(GetTable(model)).ListIds);
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = entityType });
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = model });
        command.Parameters.Add(new NpgsqlParameter<string?> { TypedValue = after, NpgsqlDbType = NpgsqlDbType.Text });
        command.Parameters.Add(new NpgsqlParameter<int> { TypedValue = limit });
        var ids = new List<string>(Math.Min(limit, 1024));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            ids.Add(reader.GetString(0));
        }

        return ids;
    }

    /// <summary>Deletes every vector of a model (retiring it). Only ever called on request.</summary>
    /// <returns>The number of rows deleted.</returns>
    public async ValueTask<int> DeleteModelAsync(string model, CancellationToken cancellationToken = default)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        return await DeleteModelInTransactionAsync(model, connection, null, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Deletes every vector of a model on the caller's connection (and transaction, for an atomic retire).</summary>
    internal async ValueTask<int> DeleteModelInTransactionAsync(string model, NpgsqlConnection connection, NpgsqlTransaction? transaction, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(StatementsFor(GetTable(model)).DeleteModel, connection, transaction);
        command.CommandTimeout = 0;
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = model });
        return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    private async ValueTask<int> ByKeyAsync(
        IReadOnlyList<(EmbeddingTaskKey Key, long Generation)> keys, Func<Sql, string> statement, CancellationToken cancellationToken, bool deleteLexical = false)
    {
        ArgumentNullException.ThrowIfNull(keys);
        if (keys.Count == 0)
        {
            return 0;
        }

        var groups = new Dictionary<EmbeddingTable, List<(EmbeddingTaskKey Key, long Generation)>>();
        foreach (var entry in keys)
        {
            var table = TableFor(entry.Key);
            if (!groups.TryGetValue(table, out var group))
            {
                groups[table] = group = [];
            }

            group.Add(entry);
        }

        // One round trip for every table: a batch runs as one implicit transaction.
        await using var batch = _dataSource.CreateBatch();
        foreach (var (table, group) in groups)
        {
            var command = new NpgsqlBatchCommand(statement(StatementsFor(table)));
            command.Parameters.Add(Text([.. group.Select(k => k.Key.EntityType)]));
            command.Parameters.Add(Text([.. group.Select(k => k.Key.EntityId)]));
            command.Parameters.Add(Text([.. group.Select(k => k.Key.Model)]));
            command.Parameters.Add(new NpgsqlParameter<long[]> { TypedValue = [.. group.Select(k => k.Generation)] });
            batch.BatchCommands.Add(command);
        }

        var vectorCommands = batch.BatchCommands.Count;
        if (deleteLexical && LexicalSql is { } lexical)
        {
            // The entity is gone (or its text unusable): its document goes in the same transaction, after the vectors
            // (the lock order of the upsert).
            var command = new NpgsqlBatchCommand(lexical.Delete);
            command.Parameters.Add(Text([.. keys.Select(k => k.Key.EntityType)]));
            command.Parameters.Add(Text([.. keys.Select(k => k.Key.EntityId)]));
            command.Parameters.Add(Text([.. keys.Select(k => k.Key.Model)]));
            command.Parameters.Add(new NpgsqlParameter<long[]> { TypedValue = [.. keys.Select(k => k.Generation)] });
            batch.BatchCommands.Add(command);
        }

        await batch.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        var affected = 0;
        for (var i = 0; i < vectorCommands; i++)
        {
            affected += batch.BatchCommands[i].RecordsAffected;
        }

        return affected;
    }

    private EmbeddingTable TableFor(EmbeddingTaskKey key)
    {
        if (key.EntityType is null || key.EntityId is null || key.Model is null)
        {
            throw new ArgumentException("An embedding key has a null entity type, entity id or model.", nameof(key));
        }

        return GetTable(key.Model);
    }

    private static void Validate(EmbeddingRecord record, EmbeddingTable table)
    {
        if (record.ContentHash is null)
        {
            throw new ArgumentException($"The record of {Describe(record.Key)} has no content hash.", nameof(record));
        }

        if (record.Chunk < 0 || record.ChunkCount <= record.Chunk || record.ChunkStart < 0 || record.ChunkLength < 0 || (record.ChunkStart is null) != (record.ChunkLength is null))
        {
            throw new ArgumentException($"The record of {Describe(record.Key)} has chunk {record.Chunk} of {record.ChunkCount}, span ({record.ChunkStart}, {record.ChunkLength}); a chunk is numbered from 0 below the chunk count, with a span of two non-negative values or none.", nameof(record));
        }

        if (record.ReuseStoredVector)
        {
            if (!record.Vector.IsEmpty)
            {
                throw new ArgumentException($"The record of {Describe(record.Key)} reuses the stored vector and carries one too.", nameof(record));
            }

            return;
        }

        if (record.Vector.Length != table.Dimensions)
        {
            throw new InvalidVectorException(
                $"The vector of {Describe(record.Key)} has {record.Vector.Length} dimensions, but {table} holds halfvec({table.Dimensions}).");
        }

        var span = record.Vector.Span;
        for (var i = 0; i < span.Length; i++)
        {
            if (!Half.IsFinite(span[i]))
            {
                throw new InvalidVectorException($"The vector of {Describe(record.Key)} holds {span[i]} at index {i}; only finite fp16 values can be stored.");
            }
        }
    }

    private static string Describe(EmbeddingTaskKey key) => $"({key.EntityType}, {key.EntityId}, {key.Model})";

    /// <summary>The state lookup statement of a table (for plan tests).</summary>
    internal string GetStatesSql(EmbeddingTable table) => StatementsFor(table).GetStates;

    /// <summary>The tables with cached statements (one per table: a bound the soak test holds it to).</summary>
    internal int CachedStatementTables => _statements.Count;

    private Sql StatementsFor(EmbeddingTable table) => _statements.GetOrAdd(
        table, static (t, state) => new Sql(t, state.Tasks, state.Lexical), (Tasks: TaskQueueSchema is { } schema ? new TaskTables(schema).Tasks : null, Lexical: LexicalSql));

    private LexicalStatements? LexicalSql => LexicalSchema is null ? null : field ??= new LexicalStatements(LexicalSchema);

    private static Func<string, EmbeddingTable?> Lookup(IReadOnlyDictionary<string, EmbeddingTable> tables)
    {
        ArgumentNullException.ThrowIfNull(tables);
        return model => tables.TryGetValue(model, out var table) ? table : null;
    }

    private static NpgsqlParameter<string[]> Text(string[] values) => new() { TypedValue = values, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text };
}
