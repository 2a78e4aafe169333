-- 001_initial: the request store (DESIGN.md, "Persistence").
--
-- Conventions: timestamps are BIGINT milliseconds since the Unix epoch (UTC); JSON is TEXT;
-- floats are DOUBLE PRECISION (PostgreSQL's REAL is 4 bytes); enumerations are CHECK
-- constraints; children of provider_requests are deleted with it.
-- The SQL is portable (SQLite now, PostgreSQL later) except where marked "SQLite:":
--   * `INTEGER PRIMARY KEY` is SQLite's auto-assigned rowid; PostgreSQL needs
--     `BIGINT GENERATED ALWAYS AS IDENTITY`.
--   * the metrics triggers at the end use SQLite's trigger syntax; PostgreSQL needs trigger
--     functions with the same bodies (the upserts themselves are standard ON CONFLICT).
-- schema_migrations is created by the migration runner, not here.

CREATE TABLE provider_requests (
    id           TEXT PRIMARY KEY,
    provider     TEXT NOT NULL CHECK (provider IN ('claude', 'gemini', 'openai')),
    model        TEXT NOT NULL,
    -- the messages as a JSON array, or 'sha256:<hex>' when message capture is off
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
    -- every state entered, in order: a JSON array of state names
    history      TEXT NOT NULL DEFAULT '[]',
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    metadata     TEXT
);

CREATE INDEX idx_provider_requests_created_at ON provider_requests (created_at);
CREATE INDEX idx_provider_requests_state ON provider_requests (state, created_at);
CREATE INDEX idx_provider_requests_provider ON provider_requests (provider, created_at);

-- One row per try of one provider/model for a request (retries and fallbacks included).
CREATE TABLE provider_attempts (
    id           INTEGER PRIMARY KEY,  -- SQLite: rowid
    request_id   TEXT NOT NULL REFERENCES provider_requests (id) ON DELETE CASCADE,
    attempt      INTEGER NOT NULL CHECK (attempt >= 1),  -- 1-based, in the order tried
    provider     TEXT NOT NULL CHECK (provider IN ('claude', 'gemini', 'openai')),
    model        TEXT NOT NULL,
    outcome      TEXT NOT NULL CHECK (outcome IN ('success', 'failure')),
    error_code   TEXT,
    error        TEXT,
    status_code  INTEGER,
    duration     INTEGER NOT NULL DEFAULT 0 CHECK (duration >= 0),  -- ms
    created_at   BIGINT NOT NULL,
    UNIQUE (request_id, attempt)
);

CREATE INDEX idx_provider_attempts_provider ON provider_attempts (provider, created_at);

-- The completed reply of a request: at most one.
CREATE TABLE provider_responses (
    request_id     TEXT PRIMARY KEY REFERENCES provider_requests (id) ON DELETE CASCADE,
    provider       TEXT NOT NULL CHECK (provider IN ('claude', 'gemini', 'openai')),
    model          TEXT NOT NULL,
    content        TEXT NOT NULL,
    input_tokens   INTEGER NOT NULL DEFAULT 0 CHECK (input_tokens >= 0),
    output_tokens  INTEGER NOT NULL DEFAULT 0 CHECK (output_tokens >= 0),
    total_tokens   INTEGER NOT NULL DEFAULT 0 CHECK (total_tokens >= 0),
    finish_reason  TEXT CHECK (finish_reason IS NULL
                               OR finish_reason IN ('stop', 'length', 'content_filter',
                                                    'tool_calls')),
    duration       INTEGER NOT NULL DEFAULT 0 CHECK (duration >= 0),  -- ms
    cost           DOUBLE PRECISION CHECK (cost IS NULL OR cost >= 0),  -- USD
    created_at     BIGINT NOT NULL,
    metadata       TEXT
);

CREATE INDEX idx_provider_responses_created_at ON provider_responses (created_at);

CREATE TABLE stream_chunks (
    request_id     TEXT NOT NULL REFERENCES provider_requests (id) ON DELETE CASCADE,
    chunk_index    INTEGER NOT NULL CHECK (chunk_index >= 0),
    chunk_content  TEXT NOT NULL,
    timestamp      BIGINT NOT NULL,
    PRIMARY KEY (request_id, chunk_index)
);

CREATE TABLE provider_health (
    id                    INTEGER PRIMARY KEY,  -- SQLite: rowid
    provider              TEXT NOT NULL CHECK (provider IN ('claude', 'gemini', 'openai')),
    status                TEXT NOT NULL CHECK (status IN ('healthy', 'degraded', 'down')),
    latency               DOUBLE PRECISION CHECK (latency IS NULL OR latency >= 0),  -- ms
    rate_limit_remaining  INTEGER CHECK (rate_limit_remaining IS NULL
                                         OR rate_limit_remaining >= 0),
    rate_limit_reset      BIGINT,
    error_message         TEXT,
    checked_at            BIGINT NOT NULL
);

CREATE INDEX idx_provider_health_provider ON provider_health (provider, checked_at);

-- Daily totals per provider and model, maintained by the triggers below; never written
-- directly. Metrics are per ATTEMPT: a request that was retried or fell back counts once at
-- every provider/model it tried (request_count = attempts, success_count + failure_count =
-- request_count); tokens and cost come from the one response, at the provider/model that
-- answered. `date` is the UTC day ('YYYY-MM-DD') of the counted row's own created_at.
CREATE TABLE provider_metrics (
    id                   INTEGER PRIMARY KEY,  -- SQLite: rowid
    provider             TEXT NOT NULL CHECK (provider IN ('claude', 'gemini', 'openai')),
    model                TEXT NOT NULL,
    date                 TEXT NOT NULL,
    request_count        INTEGER NOT NULL DEFAULT 0,
    success_count        INTEGER NOT NULL DEFAULT 0,
    failure_count        INTEGER NOT NULL DEFAULT 0,
    total_input_tokens   BIGINT NOT NULL DEFAULT 0,
    total_output_tokens  BIGINT NOT NULL DEFAULT 0,
    total_tokens         BIGINT NOT NULL DEFAULT 0,
    total_cost           DOUBLE PRECISION NOT NULL DEFAULT 0,  -- USD
    total_duration       BIGINT NOT NULL DEFAULT 0,  -- ms, summed over attempts
    UNIQUE (provider, model, date)
);

CREATE INDEX idx_provider_metrics_date ON provider_metrics (date);

-- SQLite: trigger syntax and DATE(..., 'unixepoch'). PostgreSQL: a trigger function with
-- to_char(to_timestamp(created_at / 1000) AT TIME ZONE 'UTC', 'YYYY-MM-DD').
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
