-- EmbeddingKit migration 2: model pauses, and when a task last failed.
--
-- The pattern for changing the hot table later: ADD COLUMN with no default (or a constant default) is a catalog-only
-- change in PostgreSQL 11+, so it never rewrites the queue table or blocks workers for longer than a lock; new indexes
-- on a busy table belong in their own no-transaction migration with CREATE INDEX CONCURRENTLY.

ALTER TABLE embeddingkit_embedding_tasks ADD COLUMN IF NOT EXISTS last_error_at timestamptz;

-- A provider that refuses a model's configuration (bad key, unknown model) pauses that model for every worker,
-- instead of every task burning its attempts.
CREATE TABLE embeddingkit_model_pauses (
    model        text        PRIMARY KEY,
    paused_until timestamptz NOT NULL,
    reason       text        NOT NULL,
    paused_at    timestamptz NOT NULL DEFAULT now()
);
