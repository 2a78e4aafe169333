-- 003_rich_responses: what a rich reply adds to its response row.
--
-- tool_calls: the calls the model made, as a JSON array of {"id", "name", "arguments"}
-- (NULL when it made none). cached_input_tokens and cache_write_tokens are part of
-- input_tokens, reasoning_tokens part of output_tokens; NULL when the provider did not report
-- them. Added columns only: old rows read back with NULLs, the triggers are untouched.

ALTER TABLE provider_responses ADD COLUMN tool_calls TEXT;
ALTER TABLE provider_responses ADD COLUMN cached_input_tokens INTEGER
    CHECK (cached_input_tokens IS NULL OR cached_input_tokens >= 0);
ALTER TABLE provider_responses ADD COLUMN cache_write_tokens INTEGER
    CHECK (cache_write_tokens IS NULL OR cache_write_tokens >= 0);
ALTER TABLE provider_responses ADD COLUMN reasoning_tokens INTEGER
    CHECK (reasoning_tokens IS NULL OR reasoning_tokens >= 0);
