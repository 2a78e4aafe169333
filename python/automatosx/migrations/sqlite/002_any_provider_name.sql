-- 002_any_provider_name: a provider may have any non-empty name (deployments, user adapters),
-- not only 'claude', 'gemini' or 'openai'; an attempt may also end 'cancelled_hedge' (it lost
-- a hedged race: counted as sent, neither success nor failure).
--
-- SQLite cannot drop a CHECK constraint, so each table that had `provider IN (...)` is rebuilt
-- the documented way (https://sqlite.org/lang_altertable.html#otheralter): create the new
-- table, copy every row (ids included), drop the old one, rename the new one, then recreate
-- its indexes. The runner runs this with foreign keys off and commits only if
-- `PRAGMA foreign_key_check` passes. The metrics triggers are dropped first (a rename
-- re-checks every trigger's body) and recreated last, unchanged, so copying the attempts and
-- responses does not count them twice. stream_chunks had no such CHECK and is not touched.

DROP TRIGGER provider_metrics_count_attempt;
DROP TRIGGER provider_metrics_count_response;

CREATE TABLE provider_requests_002 (
    id           TEXT PRIMARY KEY,
    provider     TEXT NOT NULL CHECK (provider <> ''),
    model        TEXT NOT NULL,
    messages     TEXT NOT NULL,
    max_tokens   INTEGER CHECK (max_tokens IS NULL OR max_tokens > 0),
    temperature  DOUBLE PRECISION NOT NULL CHECK (temperature >= 0 AND temperature <= 2),
    stream       INTEGER NOT NULL DEFAULT 0 CHECK (stream IN (0, 1)),
    state        TEXT NOT NULL CHECK (state IN ('idle', 'validating', 'requesting', 'streaming',
                                                'rate_limited', 'retrying', 'completed',
                                                'failed')),
    retry_count  INTEGER NOT NULL DEFAULT 0 CHECK (retry_count >= 0),
    error        TEXT,
    error_code   TEXT,
    history      TEXT NOT NULL DEFAULT '[]',
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    metadata     TEXT
);
INSERT INTO provider_requests_002 (id, provider, model, messages, max_tokens, temperature,
                                   stream, state, retry_count, error, error_code, history,
                                   created_at, updated_at, metadata)
SELECT id, provider, model, messages, max_tokens, temperature, stream, state, retry_count,
       error, error_code, history, created_at, updated_at, metadata
FROM provider_requests;
DROP TABLE provider_requests;
ALTER TABLE provider_requests_002 RENAME TO provider_requests;
CREATE INDEX idx_provider_requests_created_at ON provider_requests (created_at);
CREATE INDEX idx_provider_requests_state ON provider_requests (state, created_at);
CREATE INDEX idx_provider_requests_provider ON provider_requests (provider, created_at);

CREATE TABLE provider_attempts_002 (
    id           INTEGER PRIMARY KEY,  -- SQLite: rowid
    request_id   TEXT NOT NULL REFERENCES provider_requests (id) ON DELETE CASCADE,
    attempt      INTEGER NOT NULL CHECK (attempt >= 1),
    provider     TEXT NOT NULL CHECK (provider <> ''),
    model        TEXT NOT NULL,
    outcome      TEXT NOT NULL CHECK (outcome IN ('success', 'failure', 'cancelled_hedge')),
    error_code   TEXT,
    error        TEXT,
    status_code  INTEGER,
    duration     INTEGER NOT NULL DEFAULT 0 CHECK (duration >= 0),
    created_at   BIGINT NOT NULL,
    UNIQUE (request_id, attempt)
);
INSERT INTO provider_attempts_002 (id, request_id, attempt, provider, model, outcome,
                                   error_code, error, status_code, duration, created_at)
SELECT id, request_id, attempt, provider, model, outcome, error_code, error, status_code,
       duration, created_at
FROM provider_attempts;
DROP TABLE provider_attempts;
ALTER TABLE provider_attempts_002 RENAME TO provider_attempts;
CREATE INDEX idx_provider_attempts_provider ON provider_attempts (provider, created_at);

CREATE TABLE provider_responses_002 (
    request_id     TEXT PRIMARY KEY REFERENCES provider_requests (id) ON DELETE CASCADE,
    provider       TEXT NOT NULL CHECK (provider <> ''),
    model          TEXT NOT NULL,
    content        TEXT NOT NULL,
    input_tokens   INTEGER NOT NULL DEFAULT 0 CHECK (input_tokens >= 0),
    output_tokens  INTEGER NOT NULL DEFAULT 0 CHECK (output_tokens >= 0),
    total_tokens   INTEGER NOT NULL DEFAULT 0 CHECK (total_tokens >= 0),
    finish_reason  TEXT CHECK (finish_reason IS NULL
                               OR finish_reason IN ('stop', 'length', 'content_filter',
                                                    'tool_calls')),
    duration       INTEGER NOT NULL DEFAULT 0 CHECK (duration >= 0),
    cost           DOUBLE PRECISION CHECK (cost IS NULL OR cost >= 0),
    created_at     BIGINT NOT NULL,
    metadata       TEXT
);
INSERT INTO provider_responses_002 (request_id, provider, model, content, input_tokens,
                                    output_tokens, total_tokens, finish_reason, duration, cost,
                                    created_at, metadata)
SELECT request_id, provider, model, content, input_tokens, output_tokens, total_tokens,
       finish_reason, duration, cost, created_at, metadata
FROM provider_responses;
DROP TABLE provider_responses;
ALTER TABLE provider_responses_002 RENAME TO provider_responses;
CREATE INDEX idx_provider_responses_created_at ON provider_responses (created_at);

CREATE TABLE provider_health_002 (
    id                    INTEGER PRIMARY KEY,  -- SQLite: rowid
    provider              TEXT NOT NULL CHECK (provider <> ''),
    status                TEXT NOT NULL CHECK (status IN ('healthy', 'degraded', 'down')),
    latency               DOUBLE PRECISION CHECK (latency IS NULL OR latency >= 0),
    rate_limit_remaining  INTEGER CHECK (rate_limit_remaining IS NULL
                                         OR rate_limit_remaining >= 0),
    rate_limit_reset      BIGINT,
    error_message         TEXT,
    checked_at            BIGINT NOT NULL
);
INSERT INTO provider_health_002 (id, provider, status, latency, rate_limit_remaining,
                                 rate_limit_reset, error_message, checked_at)
SELECT id, provider, status, latency, rate_limit_remaining, rate_limit_reset, error_message,
       checked_at
FROM provider_health;
DROP TABLE provider_health;
ALTER TABLE provider_health_002 RENAME TO provider_health;
CREATE INDEX idx_provider_health_provider ON provider_health (provider, checked_at);

CREATE TABLE provider_metrics_002 (
    id                   INTEGER PRIMARY KEY,  -- SQLite: rowid
    provider             TEXT NOT NULL CHECK (provider <> ''),
    model                TEXT NOT NULL,
    date                 TEXT NOT NULL,
    request_count        INTEGER NOT NULL DEFAULT 0,
    success_count        INTEGER NOT NULL DEFAULT 0,
    failure_count        INTEGER NOT NULL DEFAULT 0,
    total_input_tokens   BIGINT NOT NULL DEFAULT 0,
    total_output_tokens  BIGINT NOT NULL DEFAULT 0,
    total_tokens         BIGINT NOT NULL DEFAULT 0,
    total_cost           DOUBLE PRECISION NOT NULL DEFAULT 0,
    total_duration       BIGINT NOT NULL DEFAULT 0,
    UNIQUE (provider, model, date)
);
INSERT INTO provider_metrics_002 (id, provider, model, date, request_count, success_count,
                                  failure_count, total_input_tokens, total_output_tokens,
                                  total_tokens, total_cost, total_duration)
SELECT id, provider, model, date, request_count, success_count, failure_count,
       total_input_tokens, total_output_tokens, total_tokens, total_cost, total_duration
FROM provider_metrics;
DROP TABLE provider_metrics;
ALTER TABLE provider_metrics_002 RENAME TO provider_metrics;
CREATE INDEX idx_provider_metrics_date ON provider_metrics (date);

CREATE TRIGGER provider_metrics_count_attempt
AFTER INSERT ON provider_attempts
BEGIN
    INSERT INTO provider_metrics (provider, model, date, request_count, success_count,
                                  failure_count, total_duration)
    VALUES (NEW.provider, NEW.model, DATE(NEW.created_at / 1000, 'unixepoch'), 1,
            CASE WHEN NEW.outcome = 'success' THEN 1 ELSE 0 END,
            CASE WHEN NEW.outcome = 'failure' THEN 1 ELSE 0 END,
            NEW.duration)
    ON CONFLICT (provider, model, date) DO UPDATE SET
        request_count  = request_count + 1,
        success_count  = success_count + excluded.success_count,
        failure_count  = failure_count + excluded.failure_count,
        total_duration = total_duration + excluded.total_duration;
END;

CREATE TRIGGER provider_metrics_count_response
AFTER INSERT ON provider_responses
BEGIN
    INSERT INTO provider_metrics (provider, model, date, total_input_tokens,
                                  total_output_tokens, total_tokens, total_cost)
    VALUES (NEW.provider, NEW.model, DATE(NEW.created_at / 1000, 'unixepoch'),
            NEW.input_tokens, NEW.output_tokens, NEW.total_tokens, COALESCE(NEW.cost, 0))
    ON CONFLICT (provider, model, date) DO UPDATE SET
        total_input_tokens  = total_input_tokens + excluded.total_input_tokens,
        total_output_tokens = total_output_tokens + excluded.total_output_tokens,
        total_tokens        = total_tokens + excluded.total_tokens,
        total_cost          = total_cost + excluded.total_cost;
END;
