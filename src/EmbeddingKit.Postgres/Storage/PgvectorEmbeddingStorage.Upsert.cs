using EmbeddingKit.Storage;
using EmbeddingKit.Tasks;
using Npgsql;
using NpgsqlTypes;
using Pgvector;

namespace EmbeddingKit.Postgres.Storage;

/// <content>The two ways an upsert reaches the table: one <c>unnest</c> statement, or binary <c>COPY</c> and a merge.</content>
public sealed partial class PgvectorEmbeddingStorage
{
    private async Task<int> UpsertUnnestAsync(
        NpgsqlConnection connection, NpgsqlTransaction? transaction, EmbeddingTable table, Dictionary<(EmbeddingTaskKey, int), EmbeddingRecord>.ValueCollection records, CancellationToken cancellationToken)
    {
        var count = records.Count;
        var entityTypes = new string[count];
        var entityIds = new string[count];
        var models = new string[count];
        var vectors = new HalfVector?[count];
        var hashes = new byte[count][];
        var generations = new long[count];
        var chunks = new int[count];
        var starts = new int?[count];
        var lengths = new int?[count];
        var chunkCounts = new int?[count];
        var i = 0;
        foreach (var record in records)
        {
            entityTypes[i] = record.Key.EntityType;
            entityIds[i] = record.Key.EntityId;
            models[i] = record.Key.Model;
            vectors[i] = record.ReuseStoredVector ? null : new HalfVector(record.Vector);
            hashes[i] = record.ContentHash;
            generations[i] = record.Generation;
            chunks[i] = record.Chunk;
            starts[i] = record.ChunkStart;
            lengths[i] = record.ChunkLength;
            chunkCounts[i] = record.ChunkCount;
            i++;
        }

        var sql = StatementsFor(table);
        await using var command = new NpgsqlCommand(sql.Lexical is null ? sql.UpsertUnnest : sql.UpsertUnnestWithLexical, connection, transaction);
        command.Parameters.Add(Text(entityTypes));
        command.Parameters.Add(Text(entityIds));
        command.Parameters.Add(Text(models));
        command.Parameters.Add(new NpgsqlParameter<HalfVector?[]> { TypedValue = vectors, DataTypeName = "halfvec[]" });
        command.Parameters.Add(new NpgsqlParameter<byte[][]> { TypedValue = hashes, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Bytea });
        command.Parameters.Add(new NpgsqlParameter<long[]> { TypedValue = generations });
        command.Parameters.Add(new NpgsqlParameter<int[]> { TypedValue = chunks });
        command.Parameters.Add(new NpgsqlParameter<int?[]> { TypedValue = starts, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Integer });
        command.Parameters.Add(new NpgsqlParameter<int?[]> { TypedValue = lengths, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Integer });
        command.Parameters.Add(new NpgsqlParameter<int?[]> { TypedValue = chunkCounts, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Integer });
        if (sql.Lexical is null)
        {
            return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        command.Parameters.Add(Text([.. records.Select(r => r.Lexical?.Text)!]));
        command.Parameters.Add(Text([.. records.Select(r => r.Lexical?.Title)!]));
        return (int)(long)(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
    }

    private async Task<int> UpsertCopyAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, EmbeddingTable table, Dictionary<(EmbeddingTaskKey, int), EmbeddingRecord>.ValueCollection records, int ordinal, CancellationToken cancellationToken)
    {
        var staging = "embeddingkit_upsert_" + ordinal.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var sql = StatementsFor(table);
        var lexical = sql.Lexical is not null;
        await using (var create = new NpgsqlCommand(Sql.CreateStaging(staging, lexical), connection, transaction))
        {
            await create.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        var writer = await connection.BeginBinaryImportAsync(Sql.CopyStaging(staging, lexical), cancellationToken).ConfigureAwait(false);
        await using (writer.ConfigureAwait(false))
        {
            foreach (var record in records)
            {
                await writer.StartRowAsync(cancellationToken).ConfigureAwait(false);
                await writer.WriteAsync(record.Key.EntityType, NpgsqlDbType.Text, cancellationToken).ConfigureAwait(false);
                await writer.WriteAsync(record.Key.EntityId, NpgsqlDbType.Text, cancellationToken).ConfigureAwait(false);
                await writer.WriteAsync(record.Key.Model, NpgsqlDbType.Text, cancellationToken).ConfigureAwait(false);
                if (record.ReuseStoredVector)
                {
                    await writer.WriteNullAsync(cancellationToken).ConfigureAwait(false);
                }
                else
                {
                    await writer.WriteAsync(new HalfVector(record.Vector), "halfvec", cancellationToken).ConfigureAwait(false);
                }

                await writer.WriteAsync(record.ContentHash, NpgsqlDbType.Bytea, cancellationToken).ConfigureAwait(false);
                await writer.WriteAsync(record.Generation, NpgsqlDbType.Bigint, cancellationToken).ConfigureAwait(false);
                await writer.WriteAsync(record.Chunk, NpgsqlDbType.Integer, cancellationToken).ConfigureAwait(false);
                await WriteNullableAsync(writer, record.ChunkStart, cancellationToken).ConfigureAwait(false);
                await WriteNullableAsync(writer, record.ChunkLength, cancellationToken).ConfigureAwait(false);
                await WriteNullableAsync(writer, record.ChunkCount, cancellationToken).ConfigureAwait(false);
                if (lexical)
                {
                    await writer.WriteAsync(record.Lexical?.Text, NpgsqlDbType.Text, cancellationToken).ConfigureAwait(false);
                    await writer.WriteAsync(record.Lexical?.Title, NpgsqlDbType.Text, cancellationToken).ConfigureAwait(false);
                }
            }

            await writer.CompleteAsync(cancellationToken).ConfigureAwait(false);
        }

        await using var merge = new NpgsqlCommand(sql.UpsertFrom(staging), connection, transaction);
        return lexical
            ? (int)(long)(await merge.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!
            : await merge.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    private static Task WriteNullableAsync(NpgsqlBinaryImporter writer, int? value, CancellationToken cancellationToken) =>
        value is { } v ? writer.WriteAsync(v, NpgsqlDbType.Integer, cancellationToken) : writer.WriteNullAsync(cancellationToken);
}
