namespace EmbeddingKit.Postgres.Tasks;

/// <content>The worker protocol's statements.</content>
public sealed partial class PostgresEmbeddingTaskQueue
{
    /// <summary>The statements, with the schema spliced in once (validated and quoted).</summary>
    internal sealed class Sql(TaskTables tables)
    {
        public string TasksTable => _tasks;

        private readonly string _tasks = tables.Tasks;
        private readonly string _dead = tables.Dead;
        private readonly string _pauses = tables.Pauses;

        private const string Returning = """
            RETURNING t.id, t.entity_type, t.entity_id, t.model, t.kind, t.priority, t.generation, t.attempts, t.deferrals,
                      t.lease_token, t.run_at, t.first_enqueued_at, t.enqueued_at, t.last_error
            """;

        // Duplicates in one batch are folded first (ON CONFLICT cannot touch a row twice), in key order. The lock order of
        // the whole queue is key order, (entity_type, entity_id, model): every statement that locks several task rows
        // takes them in that order (a locking CTE with ORDER BY … FOR UPDATE), so no two of them can deadlock. A new enqueue supersedes a
        // dead task of the same key. A task that a worker holds keeps its lease: its complete sees the new generation
        // and releases it to run again.
        public string Enqueue => field ??= $"""
            WITH input AS (
                SELECT DISTINCT ON (entity_type, entity_id, model) *
                FROM unnest($1::text[], $2::text[], $3::text[], $4::smallint[], $5::smallint[], $6::float8[])
                     AS i(entity_type, entity_id, model, kind, priority, delay_s)
                ORDER BY entity_type, entity_id, model, priority
            ),
            cleared AS (
                DELETE FROM {_dead} d USING input i
                WHERE d.entity_type = i.entity_type AND d.entity_id = i.entity_id AND d.model = i.model
            ),
            written AS (
                INSERT INTO {_tasks} AS t (entity_type, entity_id, model, kind, priority, run_at)
                SELECT entity_type, entity_id, model, kind, priority,
                       CASE WHEN delay_s > 0 THEN now() + make_interval(secs => delay_s) ELSE now() END
                FROM input
                ON CONFLICT (entity_type, entity_id, model) DO UPDATE SET
                    generation  = excluded.generation,
                    kind        = excluded.kind,
                    enqueued_at = now(),
                    priority    = least(t.priority, excluded.priority),
                    run_at      = CASE WHEN t.lease_token IS NULL THEN least(t.run_at, excluded.run_at) ELSE t.run_at END,
                    attempts    = CASE WHEN t.lease_token IS NULL THEN 0 ELSE t.attempts END
                RETURNING 1
            )
            SELECT count(*), pg_notify($7, '') FROM written
            """;

        // A queue table swings from empty to millions of rows faster than autovacuum analyzes it; without statistics the
        // planner guesses a handful of ready rows and picks a bitmap scan plus a sort of every ready row (8-12 ms at 30,000
        // rows instead of 0.3). The claim is always best as an ordered scan of (model, priority, run_at) that stops after
        // LIMIT rows, so the batch turns the alternatives off for its own implicit transaction (is_local = true: the
        // settings end with it, also under transaction-mode poolers).
        public const string ClaimPlanSettings = "SELECT set_config('enable_bitmapscan', 'off', true), set_config('enable_sort', 'off', true)";

        // The claim is a MATERIALIZED CTE: evaluated exactly once, so the UPDATE can never claim more than LIMIT rows
        // (an IN (SELECT ... LIMIT ... FOR UPDATE SKIP LOCKED) subquery may be re-evaluated and exceed it).
        // The pause check must not reference the task row: as a one-time filter it keeps the plan an ordered index scan
        // on (model, priority, run_at) that stops after LIMIT rows; as an anti-join it sorted every ready row.
        public string FetchOneModel => field ??= Claim($"""
            SELECT t.id, t.attempts FROM {_tasks} t
                WHERE t.model = $1 AND t.run_at <= now()
                  AND NOT EXISTS (SELECT 1 FROM {_pauses} p WHERE p.model = $1 AND p.paused_until > now())
                ORDER BY t.priority, t.run_at
                LIMIT $2
                FOR UPDATE OF t SKIP LOCKED
            """);

        // Several models: one ordered index scan per model (LATERAL), merged, then the best LIMIT rows. Rows locked by a
        // per-model scan but not among the best are unlocked when the statement commits.
        public string FetchManyModels => field ??= Claim($"""
            SELECT c.id, c.attempts FROM unnest($1::text[]) AS m(model)
                CROSS JOIN LATERAL (
                    SELECT t.id, t.attempts, t.priority, t.run_at FROM {_tasks} t
                    WHERE t.model = m.model AND t.run_at <= now()
                    ORDER BY t.priority, t.run_at
                    LIMIT $2
                    FOR UPDATE OF t SKIP LOCKED
                ) c
                WHERE NOT EXISTS (SELECT 1 FROM {_pauses} p WHERE p.model = m.model AND p.paused_until > now())
                ORDER BY c.priority, c.run_at
                LIMIT $2
            """);

        // A task claimed $6 (MaxAttempts) times already without a complete or a fail killed or hung its worker every time:
        // it is dead-lettered here, with a reason, instead of being handed out again (only a fail dead-letters otherwise).
        private string Claim(string pick) => $"""
            WITH picked AS MATERIALIZED (
                {pick}
            ),
            exhausted AS (
                DELETE FROM {_tasks} t USING picked
                WHERE t.id = picked.id AND picked.attempts >= $6
                RETURNING t.entity_type, t.entity_id, t.model, t.kind, t.priority, t.generation, t.attempts, t.deferrals,
                          t.first_enqueued_at, t.last_error
            ),
            buried AS (
                INSERT INTO {_dead} (entity_type, entity_id, model, kind, priority, generation, attempts, deferrals, error, first_enqueued_at)
                SELECT entity_type, entity_id, model, kind, priority, generation, attempts, deferrals,
                       'Claimed ' || attempts || ' times without a result (the worker crashed, hung or lost its lease each time); '
                       || 'not handed out again' || coalesce('. Last error: ' || last_error, ''),
                       first_enqueued_at
                FROM exhausted
                ON CONFLICT (entity_type, entity_id, model) DO UPDATE SET
                    kind = excluded.kind, priority = excluded.priority, generation = excluded.generation,
                    attempts = excluded.attempts, deferrals = excluded.deferrals, error = excluded.error, died_at = now()
            )
            UPDATE {_tasks} t
            SET lease_token = $3, leased_by = $4, run_at = now() + make_interval(secs => $5), attempts = t.attempts + 1
            FROM picked WHERE t.id = picked.id AND picked.attempts < $6
            {Returning}
            """;

        public string ExtendLease => field ??= $"""
            WITH owned AS MATERIALIZED ({Owned})
            UPDATE {_tasks} t SET run_at = now() + make_interval(secs => $3)
            FROM owned o WHERE t.id = o.id
            RETURNING t.id
            """;

        // The rows a worker still holds (its lease token), locked in key order.
        private string Owned => $"""
            SELECT t.id FROM {_tasks} t JOIN unnest($1::bigint[], $2::uuid[]) AS i(id, token) ON t.id = i.id AND t.lease_token = i.token
                ORDER BY t.entity_type, t.entity_id, t.model
                FOR UPDATE OF t
            """;

        // Done for the generation claimed: delete. Enqueued again while running: release it to run again at once.
        // Lease token no longer ours: untouched, reported as lease lost. The owned rows are locked first (key order), so
        // a complete that waits for an enqueuer's uncommitted row sees its new generation once it commits and reruns it,
        // instead of skipping both the delete and the rerun on its old snapshot.
        public string Complete => field ??= $"""
            WITH input AS (
                SELECT * FROM unnest($1::bigint[], $2::uuid[], $3::bigint[]) AS i(id, token, generation)
            ),
            owned AS MATERIALIZED (
                SELECT t.id, t.generation = i.generation AS done
                FROM {_tasks} t JOIN input i ON t.id = i.id AND t.lease_token = i.token
                ORDER BY t.entity_type, t.entity_id, t.model
                FOR UPDATE OF t
            ),
            deleted AS (
                DELETE FROM {_tasks} t USING owned o
                WHERE t.id = o.id AND o.done
                RETURNING t.id
            ),
            rerun AS (
                UPDATE {_tasks} t
                SET lease_token = NULL, leased_by = NULL, run_at = now(), attempts = 0, last_error = NULL
                FROM owned o
                WHERE t.id = o.id AND NOT o.done
                RETURNING t.id
            )
            SELECT true, id FROM deleted UNION ALL SELECT false, id FROM rerun
            """;

        // kind: 0 retryable, 1 rate limited, 2 configuration, 3 permanent. Dead: permanent, or retryable out of
        // attempts, unless the key was enqueued again while it ran (the new generation deserves its own attempts).
        public string Fail => field ??= $"""
            WITH input AS (
                SELECT * FROM unnest($1::bigint[], $2::uuid[], $3::bigint[], $4::smallint[], $5::text[], $6::float8[])
                     AS i(id, token, generation, kind, error, delay_s)
            ),
            owned AS (
                SELECT t.id, t.model, t.attempts, i.kind, i.error, i.delay_s,
                       (t.generation = i.generation AND (i.kind = 3 OR (i.kind = 0 AND t.attempts >= $7))) AS to_dead,
                       t.generation <> i.generation AS superseded
                FROM {_tasks} t JOIN input i ON t.id = i.id AND t.lease_token = i.token
                ORDER BY t.entity_type, t.entity_id, t.model
                FOR UPDATE OF t
            ),
            moved AS (
                DELETE FROM {_tasks} t USING owned o
                WHERE t.id = o.id AND o.to_dead
                RETURNING t.id, t.entity_type, t.entity_id, t.model, t.kind, t.priority, t.generation, t.attempts,
                          t.deferrals, o.error, t.first_enqueued_at
            ),
            buried AS (
                INSERT INTO {_dead} (entity_type, entity_id, model, kind, priority, generation, attempts, deferrals, error, first_enqueued_at)
                SELECT entity_type, entity_id, model, kind, priority, generation, attempts, deferrals, error, first_enqueued_at
                FROM moved ORDER BY entity_type, entity_id, model
                ON CONFLICT (entity_type, entity_id, model) DO UPDATE SET
                    kind = excluded.kind, priority = excluded.priority, generation = excluded.generation,
                    attempts = excluded.attempts, deferrals = excluded.deferrals, error = excluded.error, died_at = now()
            ),
            retried AS (
                UPDATE {_tasks} t SET
                    lease_token = NULL, leased_by = NULL, last_error = o.error, last_error_at = now(),
                    run_at    = CASE WHEN o.superseded THEN now() ELSE now() + make_interval(secs => o.delay_s) END,
                    attempts  = CASE WHEN o.superseded THEN 0
                                     WHEN o.kind IN (1, 2) THEN greatest(t.attempts - 1, 0) ELSE t.attempts END,
                    deferrals = t.deferrals + CASE WHEN o.kind = 1 AND NOT o.superseded THEN 1 ELSE 0 END
                FROM owned o
                WHERE t.id = o.id AND NOT o.to_dead
                RETURNING t.id
            ),
            paused AS (
                INSERT INTO {_pauses} AS p (model, paused_until, reason)
                SELECT DISTINCT ON (model) model, now() + make_interval(secs => greatest($8, delay_s)), error
                FROM owned WHERE kind = 2 ORDER BY model, delay_s DESC
                ON CONFLICT (model) DO UPDATE SET
                    paused_until = greatest(p.paused_until, excluded.paused_until), reason = excluded.reason, paused_at = now()
            )
            SELECT true, id FROM moved UNION ALL SELECT false, id FROM retried
            """;

        public string Release => field ??= $"""
            WITH owned AS MATERIALIZED ({Owned})
            UPDATE {_tasks} t
            SET lease_token = NULL, leased_by = NULL, run_at = now(), attempts = greatest(t.attempts - 1, 0)
            FROM owned o WHERE t.id = o.id
            RETURNING t.id
            """;
    }
}
