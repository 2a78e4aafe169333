-- 005_scopes_and_owners: who a request was for, and which store process wrote it.
--
-- tenant and end_user are ProviderRequest.tenant and .user (the budgets' and cache's scopes;
-- `user` is a reserved word in PostgreSQL, so the column is end_user in both dialects).
-- owner is the id of the store (one per open store in one process) that inserted the row;
-- store_owners holds each live owner's heartbeat. On open, a store finalises as `failed`
-- (error_code INTERRUPTED) the unfinished rows of owners whose lease has expired, and only
-- those: another live process's in-flight rows are left alone.

ALTER TABLE provider_requests ADD COLUMN tenant TEXT;
ALTER TABLE provider_requests ADD COLUMN end_user TEXT;
ALTER TABLE provider_requests ADD COLUMN owner TEXT;

CREATE INDEX idx_provider_requests_owner_open ON provider_requests (owner)
    WHERE state NOT IN ('completed', 'failed');
CREATE INDEX idx_provider_requests_tenant ON provider_requests (tenant, created_at)
    WHERE tenant IS NOT NULL;

CREATE TABLE store_owners (
    owner        TEXT PRIMARY KEY,
    host         TEXT NOT NULL,
    pid          INTEGER NOT NULL,
    started_at   INTEGER NOT NULL,
    heartbeat_at INTEGER NOT NULL,
    lease_ms     INTEGER NOT NULL
);
