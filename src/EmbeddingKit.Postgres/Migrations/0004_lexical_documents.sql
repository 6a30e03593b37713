-- EmbeddingKit migration 4: the lexical index of hybrid search, its text search configurations and fusion settings.

-- One full-text document per entity, whatever the models: written by the storage in the same statement as a vector,
-- skipped with it when the content hash is unchanged, deleted with it when the entity is gone. generation is the
-- newest task generation that wrote it (generations come from one sequence, so a stale task of any model loses).
CREATE TABLE embeddingkit_lexical_documents (
    entity_type text        NOT NULL,
    entity_id   text        NOT NULL,
    document    tsvector    NOT NULL,
    generation  bigint      NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (entity_type, entity_id)
);

CREATE INDEX embeddingkit_lexical_documents_document ON embeddingkit_lexical_documents USING gin (document);

-- The text search configuration of an entity type's documents and queries; 'english' for a type without a row.
CREATE TABLE embeddingkit_lexical_configurations (
    entity_type   text      PRIMARY KEY,
    configuration regconfig NOT NULL
);

-- Fusion settings per entity type, written by `tune --queries` (or by hand): RRF k, per-side weights and depths.
CREATE TABLE embeddingkit_hybrid_settings (
    entity_type    text             PRIMARY KEY,
    rrf_k          integer          NOT NULL,
    vector_weight  double precision NOT NULL,
    lexical_weight double precision NOT NULL,
    vector_depth   integer          NOT NULL,
    lexical_depth  integer          NOT NULL,
    mrr            double precision,
    tuned_at       timestamptz      NOT NULL DEFAULT now()
);
