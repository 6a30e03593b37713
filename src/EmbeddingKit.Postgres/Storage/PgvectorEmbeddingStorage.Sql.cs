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
        // cancel or retire of the task can slip in between (OFFSET 0 keeps the sort below the check).
        private string Rows(string source) => $"""
            SELECT u.* FROM (SELECT * FROM {source} ORDER BY entity_type, entity_id, model OFFSET 0) AS u
            {_guard}
            """;

        private readonly string _guard = tasks is null ? string.Empty : $"""
            WHERE EXISTS (
                SELECT 1 FROM {tasks} task
                WHERE task.entity_type = u.entity_type AND task.entity_id = u.entity_id AND task.model = u.model
                  AND task.generation = u.generation
                FOR KEY SHARE)
            """;

        private const string Columns = "entity_type, entity_id, model, embedding, content_hash, generation";

        // The generation guard: an older generation never overwrites a newer one; an equal one may (a retry of the
        // same task writes the same content).
        private const string OnConflict = """
            ON CONFLICT (entity_type, entity_id, model, chunk) DO UPDATE SET
                embedding = excluded.embedding, content_hash = excluded.content_hash,
                generation = excluded.generation, updated_at = now()
            WHERE stored.generation <= excluded.generation
            """;

        // Duplicate keys in one batch are folded to their newest generation (UPDATE … FROM would pick one at random).
        private const string Keys = """
            (SELECT entity_type, entity_id, model, max(generation) AS generation
             FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) AS u(entity_type, entity_id, model, generation)
             GROUP BY entity_type, entity_id, model) AS i
            """;

        private const string KeyMatch = "stored.entity_type = i.entity_type AND stored.entity_id = i.entity_id AND stored.model = i.model";

        private const string LockedMatch = "stored.entity_type = l.entity_type AND stored.entity_id = l.entity_id AND stored.model = l.model";

        // One primary-key lookup per id, whatever the statistics say: with `entity_id = ANY($3)` a table that has not been
        // analyzed yet (a new model filling up) got a scan of every row of the model with the ids as a filter (7-12 ms
        // for 64 ids at 20,000 rows instead of 0.2). LIMIT 1 keeps the lateral subquery from being flattened into a join.
        public string GetStates => field ??= $"""
            SELECT s.entity_id, s.content_hash, s.generation{(lexical is null ? string.Empty : ", " + lexical.Exists("$1", "s.entity_id"))}
            FROM unnest($3::text[]) AS i(entity_id)
            CROSS JOIN LATERAL (
                SELECT stored.entity_id, stored.content_hash, stored.generation FROM {_t} AS stored
                WHERE stored.entity_type = $1 AND stored.entity_id = i.entity_id AND stored.model = $2
                LIMIT 1
            ) AS s
            """;

        public string UpsertUnnest => field ??= $"""
            INSERT INTO {_t} AS stored ({Columns})
            {Rows($"unnest($1::text[], $2::text[], $3::text[], $4::halfvec[], $5::bytea[], $6::bigint[]) AS i({Columns})")}
            {OnConflict}
            """;

        // With a lexical index: the same insert, and the documents of the rows it wrote, in one statement ($7 texts, $8 titles).
        public string UpsertUnnestWithLexical => field ??= lexical!.UpsertWithVectors(
            $"""
            INSERT INTO {_t} AS stored ({Columns})
            {Rows($"unnest($1::text[], $2::text[], $3::text[], $4::halfvec[], $5::bytea[], $6::bigint[]) AS i({Columns})")}
            {OnConflict}
            """,
            "unnest($1::text[], $2::text[], $7::text[], $8::text[]) AS d(entity_type, entity_id, body, title)");

        public string UpsertFrom(string staging)
        {
            var quoted = PostgresIdentifier.Quote(staging);
            if (lexical is null)
            {
                return $"""
                    INSERT INTO {_t} AS stored ({Columns})
                    {Rows(quoted)}
                    {OnConflict}
                    """;
            }

            return lexical.UpsertWithVectors(
                $"""
                INSERT INTO {_t} AS stored ({Columns})
                {Rows($"(SELECT {Columns} FROM {quoted}) AS s")}
                {OnConflict}
                """,
                $"(SELECT entity_type, entity_id, lexical_text AS body, lexical_title AS title FROM {quoted}) AS d");
        }

        public static string CreateStaging(string staging, bool lexical) => $"""
            CREATE TEMP TABLE {PostgresIdentifier.Quote(staging)} (
                entity_type text, entity_id text, model text, embedding halfvec, content_hash bytea, generation bigint{(lexical ? ", lexical_text text, lexical_title text" : string.Empty)}
            ) ON COMMIT DROP
            """;

        public static string CopyStaging(string staging, bool lexical) =>
            $"COPY {PostgresIdentifier.Quote(staging)} ({Columns}{(lexical ? ", lexical_text, lexical_title" : string.Empty)}) FROM STDIN (FORMAT BINARY)";

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
            SELECT stored.entity_type, stored.entity_id, stored.model, i.generation FROM {_t} AS stored JOIN {Keys} ON {KeyMatch}
            WHERE stored.generation {comparison} i.generation
            ORDER BY stored.entity_type, stored.entity_id, stored.model
            FOR UPDATE OF stored
            """;

        public string Count => field ??= $"SELECT count(*) FROM {_t} WHERE entity_type = $1 AND model = $2";

        public string ListIds => field ??= $"""
            SELECT entity_id FROM {_t}
            WHERE entity_type = $1 AND model = $2 AND ($3::text IS NULL OR entity_id > $3)
            ORDER BY entity_id
            LIMIT $4
            """;

        public string DeleteModel => field ??= $"DELETE FROM {_t} WHERE model = $1";
    }
}
