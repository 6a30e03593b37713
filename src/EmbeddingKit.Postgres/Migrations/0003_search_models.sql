-- EmbeddingKit migration 3: model rollout state and per-model search settings.

-- The model search answers with, per entity type, and the one before it (the fallback while the new one backfills).
CREATE TABLE embeddingkit_active_models (
    entity_type    text        PRIMARY KEY,
    model          text        NOT NULL,
    previous_model text,
    coverage       double precision,   -- stored / total entities when it was activated
    forced         boolean     NOT NULL DEFAULT false,
    switched_at    timestamptz NOT NULL DEFAULT now()
);

-- Search settings per model, written by the tuner (or by hand): the path, oversample factor and ef_search.
CREATE TABLE embeddingkit_model_settings (
    model       text        PRIMARY KEY,
    path        text        NOT NULL DEFAULT 'two-stage',
    oversample  integer     NOT NULL,
    ef_search   integer     NOT NULL,
    recall      double precision,
    tuned_at    timestamptz NOT NULL DEFAULT now()
);
