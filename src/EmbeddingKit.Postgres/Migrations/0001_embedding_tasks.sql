-- EmbeddingKit migration 1: the embedding task queue.
-- Runs with search_path set to the host's schema; every name below lands there.
--
-- One row per natural key (entity_type, entity_id, model) that has outstanding work. Done work is deleted, so the
-- table only ever holds what is outstanding and claiming stays fast whatever the history.
-- run_at is the next time the row may be claimed; while a worker holds the row it is the lease expiry, so a crashed
-- worker's rows become ready again on their own.

CREATE SEQUENCE embeddingkit_task_generation AS bigint;

CREATE TABLE embeddingkit_embedding_tasks (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    entity_type       text        NOT NULL,
    entity_id         text        NOT NULL,
    model             text        NOT NULL,
    kind              smallint    NOT NULL DEFAULT 0,                -- 0 text, 1 multimodal
    priority          smallint    NOT NULL DEFAULT 0,                -- lower runs first
    generation        bigint      NOT NULL DEFAULT nextval('embeddingkit_task_generation'),
    attempts          integer     NOT NULL DEFAULT 0,                -- counted when claimed
    deferrals         integer     NOT NULL DEFAULT 0,                -- rate-limit deferrals, no attempt used
    run_at            timestamptz NOT NULL DEFAULT now(),
    lease_token       uuid,
    leased_by         text,
    last_error        text,
    first_enqueued_at timestamptz NOT NULL DEFAULT now(),
    enqueued_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT embeddingkit_embedding_tasks_key UNIQUE (entity_type, entity_id, model)
) WITH (
    -- A queue table churns: vacuum it early and often.
    autovacuum_vacuum_scale_factor = 0.02,
    autovacuum_vacuum_insert_scale_factor = 0.05,
    autovacuum_analyze_scale_factor = 0.05
);

-- Claiming: the ready rows of the worker's models, by priority then next run time.
CREATE INDEX embeddingkit_embedding_tasks_fetch ON embeddingkit_embedding_tasks (model, priority, run_at);

-- Tasks that could not be done, kept with their error until requeued or pruned.
CREATE TABLE embeddingkit_embedding_tasks_dead (
    entity_type text        NOT NULL,
    entity_id   text        NOT NULL,
    model       text        NOT NULL,
    kind        smallint    NOT NULL,
    priority    smallint    NOT NULL,
    generation  bigint      NOT NULL,
    attempts    integer     NOT NULL,
    deferrals   integer     NOT NULL,
    error       text        NOT NULL,
    first_enqueued_at timestamptz NOT NULL,
    died_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (entity_type, entity_id, model)
);
