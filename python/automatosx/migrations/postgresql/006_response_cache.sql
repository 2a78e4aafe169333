-- 006_response_cache: replies served from the response cache, and attempts that followed a
-- pin (as SQLite's 007).
--
-- provider_responses.cached is true for a reply the router's response cache served (no
-- provider call; its cost is 0) and saved_cost what the stored reply cost when a provider
-- made it. A served reply is not usage: provider_metrics counts only replies a provider made.
-- provider_attempts.followed_pin is true when sticky routing sent the attempt to the
-- deployment its conversation (prefix, user or tenant) was pinned to.

ALTER TABLE provider_responses ADD COLUMN cached BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE provider_responses ADD COLUMN saved_cost DOUBLE PRECISION;
ALTER TABLE provider_attempts ADD COLUMN followed_pin BOOLEAN NOT NULL DEFAULT FALSE;

CREATE OR REPLACE FUNCTION automatosx_count_responses() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO provider_metrics AS m (provider, model, date, total_input_tokens,
                                       total_output_tokens, total_tokens, total_cost)
    SELECT provider, model, automatosx_utc_day(created_at), SUM(input_tokens),
           SUM(output_tokens), SUM(total_tokens), SUM(COALESCE(cost, 0))
    FROM new_rows
    WHERE NOT cached
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

CREATE INDEX idx_provider_responses_cached ON provider_responses (created_at) WHERE cached;
