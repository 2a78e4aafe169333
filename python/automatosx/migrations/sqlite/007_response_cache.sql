-- 007_response_cache: replies served from the response cache, and attempts that followed a pin.
--
-- provider_responses.cached is 1 for a reply the router's response cache served (no provider
-- call; its cost is 0) and saved_cost what the stored reply cost when a provider made it.
-- A served reply is not usage: provider_metrics counts only replies a provider made (the
-- trigger is re-created with that condition).
-- provider_attempts.followed_pin is 1 when sticky routing sent the attempt to the deployment
-- its conversation (prefix, user or tenant) was pinned to.

ALTER TABLE provider_responses ADD COLUMN cached INTEGER NOT NULL DEFAULT 0;
ALTER TABLE provider_responses ADD COLUMN saved_cost DOUBLE PRECISION;
ALTER TABLE provider_attempts ADD COLUMN followed_pin INTEGER NOT NULL DEFAULT 0;

DROP TRIGGER provider_metrics_count_response;

CREATE TRIGGER provider_metrics_count_response
AFTER INSERT ON provider_responses
WHEN NEW.cached = 0
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

CREATE INDEX idx_provider_responses_cached ON provider_responses (created_at) WHERE cached = 1;
