-- EmbeddingKit migration 5: how an entity type's lists are fused (HybridFusion). Settings saved before it were tuned as
-- reciprocal rank fusion and keep it.
ALTER TABLE embeddingkit_hybrid_settings
    ADD COLUMN fusion text NOT NULL DEFAULT 'reciprocal_rank' CHECK (fusion IN ('relative_score', 'reciprocal_rank'));
