-- 005_budgets: spend control (RouterOptions.budgets), as SQLite's 006.
--
-- budget_definitions: each budget's definition (JSON), appended at open() (the latest per
-- budget id counts). budget_spend: one row per attempt and budget scope (reserved before
-- sending, charged after; nano-dollars, tokens).
-- budget_totals: the charged sum per budget, scope value and window, kept by a statement
-- trigger: what a reopening router resumes from and what `automatosx budgets` prints.

CREATE TABLE budget_definitions (
    id BIGSERIAL PRIMARY KEY,
    budget_id TEXT NOT NULL,
    definition TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE INDEX idx_budget_definitions_budget ON budget_definitions (budget_id, id);

CREATE TABLE budget_spend (
    id BIGSERIAL PRIMARY KEY,
    request_id TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    budget_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    window_start BIGINT NOT NULL,
    reserved_nusd BIGINT NOT NULL,
    charged_nusd BIGINT NOT NULL,
    reserved_tokens BIGINT NOT NULL,
    charged_tokens BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE INDEX idx_budget_spend_request ON budget_spend (request_id);

CREATE TABLE budget_totals (
    budget_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    window_start BIGINT NOT NULL,
    charged_nusd BIGINT NOT NULL DEFAULT 0,
    charged_tokens BIGINT NOT NULL DEFAULT 0,
    attempts BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (budget_id, window_start, scope)
);

CREATE FUNCTION automatosx_budget_totals_add() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO budget_totals AS t (budget_id, scope, window_start, charged_nusd,
                                    charged_tokens, attempts)
    SELECT budget_id, scope, window_start, SUM(charged_nusd), SUM(charged_tokens), COUNT(*)
    FROM new_rows
    GROUP BY budget_id, scope, window_start
    ON CONFLICT (budget_id, window_start, scope) DO UPDATE SET
        charged_nusd = t.charged_nusd + EXCLUDED.charged_nusd,
        charged_tokens = t.charged_tokens + EXCLUDED.charged_tokens,
        attempts = t.attempts + EXCLUDED.attempts;
    RETURN NULL;
END;
$$;

CREATE TRIGGER budget_totals_add
AFTER INSERT ON budget_spend
REFERENCING NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION automatosx_budget_totals_add();
