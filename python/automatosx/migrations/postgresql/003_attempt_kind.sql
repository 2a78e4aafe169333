-- 003_attempt_kind: the provider kind of each attempt's deployment (as SQLite's 004).
--
-- provider holds the deployment id (ProviderConfig.id, by default its kind's name); kind
-- holds the kind (claude, openai, gemini, or a user adapter's name), so `automatosx stats
-- --by-kind` can add up deployments of one kind. Nullable: rows written before this
-- migration read back NULL and count as their provider (COALESCE(kind, provider)).

ALTER TABLE provider_attempts ADD COLUMN kind TEXT;
