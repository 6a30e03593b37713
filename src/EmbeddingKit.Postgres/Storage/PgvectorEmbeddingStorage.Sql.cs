namespace EmbeddingKit.Postgres.Storage;

/// <content>The SQL of the storage, per table.</content>
public sealed partial class PgvectorEmbeddingStorage
{
    /// <summary>The statements of one table, with its qualified name spliced in once (validated and quoted).</summary>
    private sealed class Sql(EmbeddingTable table, string? tasks, LexicalStatements? lexical)
    {
        private readonly string _t = table.QualifiedName;

        public LexicalStatements? Lexical => lexical;

        // The rows to write, in key order (the lock order of the whole schema), and — when writes are guarded — only
        // those whose task still holds the same generation, share-locked until the write commits so that no delete,
        // cancel or retire of the task can slip in between (OFFSET 0 keeps the sort below the check). A chunk that only
        // moved (ReuseStoredVector: no vector given) takes the vector stored for the entity under the same content hash
        // (the statement's snapshot: before any of its own writes); when none is there it is not written, and the
        // runtime, reading back, reruns the task. Then the entity's chunks at or beyond its new chunk count are deleted
        // (the document shrank), under the same guards: only entities whose rows passed the task check, only rows at or
        // below the new generation.
        private string Ctes(string source) => $"""
            input AS MATERIALIZED (
                SELECT u.entity_type, u.entity_id, u.model, u.chunk,
                       coalesce(u.embedding, (
                           SELECT r.embedding FROM {_t} r
                           WHERE r.entity_type = u.entity_type AND r.entity_id = u.entity_id AND r.model = u.model AND r.content_hash = u.content_hash
                           LIMIT 1)) AS embedding,
                       u.content_hash, u.generation, u.chunk_start, u.chunk_length, u.chunk_count
                FROM (SELECT * FROM {source} ORDER BY entity_type, entity_id, model, chunk OFFSET 0) AS u
                {_guard}
            ),
            removed AS (
                DELETE FROM {_t} AS stored USING (
                    SELECT entity_type, entity_id, model, max(generation) AS generation, max(chunk_count) AS chunk_count
                    FROM input WHERE chunk_count IS NOT NULL
                    GROUP BY entity_type, entity_id, model) AS k
                WHERE stored.entity_type = k.entity_type AND stored.entity_id = k.entity_id AND stored.model = k.model
                  AND stored.chunk >= k.chunk_count AND stored.generation <= k.generation
            )
            """;

        private string Insert => $"""
            INSERT INTO {_t} AS stored ({Columns})
            SELECT {Columns} FROM input WHERE embedding IS NOT NULL
            {OnConflict}
            """;

        private readonly string _guard = tasks is null ? string.Empty : $"""
            WHERE EXISTS (
                SELECT 1 FROM {tasks} task
                WHERE task.entity_type = u.entity_type AND task.entity_id = u.entity_id AND task.model = u.model
                  AND task.generation = u.generation
                FOR KEY SHARE)
            """;

        private const string Columns = "entity_type, entity_id, model, embedding, content_hash, generation, chunk, chunk_start, chunk_length";

        private const string SourceColumns = "entity_type, entity_id, model, embedding, content_hash, generation, chunk, chunk_start, chunk_length, chunk_count";

        private const string Unnest = "unnest($1::text[], $2::text[], $3::text[], $4::halfvec[], $5::bytea[], $6::bigint[], $7::int[], $8::int[], $9::int[], $10::int[])";

        // The generation guard: an older generation never overwrites a newer one; an equal one may (a retry of the
        // same task writes the same content). updated_at is when the vector last changed: a chunk whose content is the
        // same (its span moved, or only the generation rises) keeps it, so that it counts the rows an edit rewrote.
        private const string OnConflict = """
            ON CONFLICT (entity_type, entity_id, model, chunk) DO UPDATE SET
                embedding = excluded.embedding, content_hash = excluded.content_hash,
                generation = excluded.generation, chunk_start = excluded.chunk_start, chunk_length = excluded.chunk_length,
                updated_at = CASE WHEN stored.content_hash = excluded.content_hash THEN stored.updated_at ELSE now() END
            WHERE stored.generation <= excluded.generation
            """;

        // Duplicate keys in one batch are folded to their newest generation (UPDATE … FROM would pick one at random).
        private const string Keys = """
            (SELECT entity_type, entity_id, model, max(generation) AS generation
             FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) AS u(entity_type, entity_id, model, generation)
             GROUP BY entity_type, entity_id, model) AS i
            """;

        private const string KeyMatch = "stored.entity_type = i.entity_type AND stored.entity_id = i.entity_id AND stored.model = i.model";

        private const string LockedMatch = "stored.entity_type = l.entity_type AND stored.entity_id = l.entity_id AND stored.model = l.model AND stored.chunk = l.chunk";

        // One primary-key range per id (every chunk of the entity, in chunk order), whatever the statistics say: with
        // `entity_id = ANY($3)` a table that has not been analyzed yet (a new model filling up) got a scan of every row
        // of the model with the ids as a filter (7-12 ms for 64 ids at 20,000 rows instead of 0.2). OFFSET 0 keeps the
        // lateral subquery from being flattened into a join.
        public string GetStates => field ??= $"""
            SELECT s.entity_id, s.content_hash, s.generation, s.chunk, s.chunk_start, s.chunk_length{(lexical is null ? string.Empty : ", " + lexical.Exists("$1", "s.entity_id"))}
            FROM unnest($3::text[]) AS i(entity_id)
            CROSS JOIN LATERAL (
                SELECT stored.entity_id, stored.content_hash, stored.generation, stored.chunk, stored.chunk_start, stored.chunk_length FROM {_t} AS stored
                WHERE stored.entity_type = $1 AND stored.entity_id = i.entity_id AND stored.model = $2
                ORDER BY stored.chunk
                OFFSET 0
            ) AS s
            """;

        public string UpsertUnnest => field ??= $"""
            WITH {Ctes($"{Unnest} AS i({SourceColumns})")}
            {Insert}
            """;

        // With a lexical index: the same insert, and the documents of the rows it wrote, in one statement ($11 texts, $12 titles).
        public string UpsertUnnestWithLexical => field ??= lexical!.UpsertWithVectors(
            Ctes($"{Unnest} AS i({SourceColumns})"),
            Insert,
            "unnest($1::text[], $2::text[], $11::text[], $12::text[]) AS d(entity_type, entity_id, body, title)");

        public string UpsertFrom(string staging)
        {
            var quoted = PostgresIdentifier.Quote(staging);
            var source = $"(SELECT {SourceColumns} FROM {quoted}) AS s";
            if (lexical is null)
            {
                return $"""
                    WITH {Ctes(source)}
                    {Insert}
                    """;
            }

            return lexical.UpsertWithVectors(
                Ctes(source),
                Insert,
                $"(SELECT entity_type, entity_id, lexical_text AS body, lexical_title AS title FROM {quoted}) AS d");
        }

        public static string CreateStaging(string staging, bool lexical) => $"""
            CREATE TEMP TABLE {PostgresIdentifier.Quote(staging)} (
                entity_type text, entity_id text, model text, embedding halfvec, content_hash bytea, generation bigint,
                chunk integer, chunk_start integer, chunk_length integer, chunk_count integer{(lexical ? ", lexical_text text, lexical_title text" : string.Empty)}
            ) ON COMMIT DROP
            """;

        public static string CopyStaging(string staging, bool lexical) =>
            $"COPY {PostgresIdentifier.Quote(staging)} ({SourceColumns}{(lexical ? ", lexical_text, lexical_title" : string.Empty)}) FROM STDIN (FORMAT BINARY)";

        // Touch leaves updated_at alone: it is when the vector was last written.
        public string Touch => field ??= $"""
            WITH locked AS MATERIALIZED ({Locked("<")})
            UPDATE {_t} AS stored SET generation = l.generation
            FROM locked l WHERE {LockedMatch}
            """;

        public string Delete => field ??= $"""
            WITH locked AS MATERIALIZED ({Locked("<=")})
            DELETE FROM {_t} AS stored USING locked l WHERE {LockedMatch}
            """;

        // The rows a touch or delete may change, locked in key order (the lock order of the whole schema, as the upsert's).
        private string Locked(string comparison) => $"""
            SELECT stored.entity_type, stored.entity_id, stored.model, stored.chunk, i.generation FROM {_t} AS stored JOIN {Keys} ON {KeyMatch}
            WHERE stored.generation {comparison} i.generation
            ORDER BY stored.entity_type, stored.entity_id, stored.model, stored.chunk
            FOR UPDATE OF stored
            """;

        // Entities, not chunks: every stored entity has a chunk 0.
        public string Count => field ??= $"SELECT count(*) FROM {_t} WHERE entity_type = $1 AND model = $2 AND chunk = 0";

        public string ListIds => field ??= $"""
            SELECT entity_id FROM {_t}
            WHERE entity_type = $1 AND model = $2 AND chunk = 0 AND ($3::text IS NULL OR entity_id > $3)
            ORDER BY entity_id
            LIMIT $4
            """;

        public string DeleteModel => field ??= $"DELETE FROM {_t} WHERE model = $1";
    }
}
