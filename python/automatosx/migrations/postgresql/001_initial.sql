-- 001_initial (PostgreSQL): the request store, the same tables as the SQLite 001_initial.
--
-- Conventions: timestamps are BIGINT milliseconds since the Unix epoch (UTC); JSON is TEXT
-- (round-trips byte for byte, as in SQLite); floats are DOUBLE PRECISION; enumerations of
-- this library (state, outcome, status, finish reason) are CHECK constraints, provider names
-- are not (providers are a registry of kinds); children of provider_requests are deleted with
-- it. schema_migrations is created by the migration runner, not here.

CREATE TABLE provider_requests (
    id           TEXT PRIMARY KEY,
    provider     TEXT NOT NULL,
    model        TEXT NOT NULL,
    -- the messages as a JSON array, or 'sha256:<hex>' when message capture is off
    messages     TEXT NOT NULL,
    max_tokens   INTEGER CHECK (max_tokens IS NULL OR max_tokens > 0),
    temperature  DOUBLE PRECISION NOT NULL CHECK (temperature >= 0 AND temperature <= 2),
    stream       BOOLEAN NOT NULL DEFAULT FALSE,
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
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    request_id   TEXT NOT NULL REFERENCES provider_requests (id) ON DELETE CASCADE,
    attempt      INTEGER NOT NULL CHECK (attempt >= 1),  -- 1-based, in the order tried
    provider     TEXT NOT NULL,
    model        TEXT NOT NULL,
    outcome      TEXT NOT NULL CHECK (outcome IN ('success', 'failure', 'cancelled_hedge')),
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
    provider       TEXT NOT NULL,
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
    id                    BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    provider              TEXT NOT NULL,
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
    id                   BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    provider             TEXT NOT NULL,
    model                TEXT NOT NULL,
    date                 TEXT NOT NULL,
    request_count        BIGINT NOT NULL DEFAULT 0,
    success_count        BIGINT NOT NULL DEFAULT 0,
    failure_count        BIGINT NOT NULL DEFAULT 0,
    total_input_tokens   BIGINT NOT NULL DEFAULT 0,
    total_output_tokens  BIGINT NOT NULL DEFAULT 0,
    total_tokens         BIGINT NOT NULL DEFAULT 0,
    total_cost           DOUBLE PRECISION NOT NULL DEFAULT 0,  -- USD
    total_duration       BIGINT NOT NULL DEFAULT 0,  -- ms, summed over attempts
    UNIQUE (provider, model, date)
);

CREATE INDEX idx_provider_metrics_date ON provider_metrics (date);

-- The UTC day of a millisecond timestamp, independent of the session's TimeZone/DateStyle.
CREATE FUNCTION automatosx_utc_day(ms BIGINT) RETURNS TEXT
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT to_char(TIMESTAMP '1970-01-01' + ms * INTERVAL '1 millisecond', 'YYYY-MM-DD') $$;

-- The triggers are per statement over the inserted rows (a transition table): a batch of
-- attempts costs one upsert per provider/model/day, not one per row, with the same sums as
-- the SQLite per-row triggers. Rows are upserted in key order, so two writers lock metrics
-- rows in the same order within a statement.
CREATE FUNCTION automatosx_count_attempts() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO provider_metrics AS m (provider, model, date, request_count, success_count,
                                       failure_count, total_duration)
    SELECT provider, model, automatosx_utc_day(created_at), COUNT(*),
           COUNT(*) FILTER (WHERE outcome = 'success'),
           COUNT(*) FILTER (WHERE outcome = 'failure'),
           SUM(duration)
    FROM new_rows
    GROUP BY 1, 2, 3
    ORDER BY 1, 2, 3
    ON CONFLICT (provider, model, date) DO UPDATE SET
        request_count  = m.request_count + excluded.request_count,
        success_count  = m.success_count + excluded.success_count,
        failure_count  = m.failure_count + excluded.failure_count,
        total_duration = m.total_duration + excluded.total_duration;
    RETURN NULL;
END
$$;

CREATE TRIGGER provider_metrics_count_attempts
AFTER INSERT ON provider_attempts
REFERENCING NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION automatosx_count_attempts();

CREATE FUNCTION automatosx_count_responses() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO provider_metrics AS m (provider, model, date, total_input_tokens,
                                       total_output_tokens, total_tokens, total_cost)
    SELECT provider, model, automatosx_utc_day(created_at), SUM(input_tokens),
           SUM(output_tokens), SUM(total_tokens), SUM(COALESCE(cost, 0))
    FROM new_rows
    GROUP BY 1, 2, 3
    ORDER BY 1, 2, 3
    ON CONFLICT (provider, model, date) DO UPDATE SET
        total_input_tokens  = m.total_input_tokens + excluded.total_input_tokens,
        total_output_tokens = m.total_output_tokens + excluded.total_output_tokens,
        total_tokens        = m.total_tokens + excluded.total_tokens,
        total_cost          = m.total_cost + excluded.total_cost;
    RETURN NULL;
END
$$;

CREATE TRIGGER provider_metrics_count_responses
AFTER INSERT ON provider_responses
REFERENCING NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION automatosx_count_responses();
