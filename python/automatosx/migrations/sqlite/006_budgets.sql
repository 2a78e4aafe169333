-- 006_budgets: spend control (RouterOptions.budgets).
--
-- budget_definitions: each budget's definition (JSON, camelCase, as configured), appended at
-- open() (the latest per budget id counts), so `automatosx budgets --db ...` can print spend
-- against limits from the database alone.
-- budget_spend: one row per attempt and budget scope it was charged to: what was reserved
-- before it was sent and what it was charged after (nano-dollars, tokens; 0 when released).
-- budget_totals: the charged sum per budget, scope value and window, kept by a trigger: what
-- a router reopening resumes from, and what the CLI prints, without scanning the attempts.

CREATE TABLE budget_definitions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    budget_id TEXT NOT NULL,
    definition TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE INDEX idx_budget_definitions_budget ON budget_definitions (budget_id, id);

CREATE TABLE budget_spend (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    budget_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    window_start INTEGER NOT NULL,
    reserved_nusd INTEGER NOT NULL,
    charged_nusd INTEGER NOT NULL,
    reserved_tokens INTEGER NOT NULL,
    charged_tokens INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE INDEX idx_budget_spend_request ON budget_spend (request_id);

CREATE TABLE budget_totals (
    budget_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    window_start INTEGER NOT NULL,
    charged_nusd INTEGER NOT NULL DEFAULT 0,
    charged_tokens INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (budget_id, window_start, scope)
);

CREATE TRIGGER budget_totals_add
AFTER INSERT ON budget_spend
BEGIN
    INSERT INTO budget_totals (budget_id, scope, window_start, charged_nusd, charged_tokens,
                               attempts)
    VALUES (NEW.budget_id, NEW.scope, NEW.window_start, NEW.charged_nusd, NEW.charged_tokens, 1)
    ON CONFLICT (budget_id, window_start, scope) DO UPDATE SET
        charged_nusd = charged_nusd + excluded.charged_nusd,
        charged_tokens = charged_tokens + excluded.charged_tokens,
        attempts = attempts + 1;
END;
