"""End-to-end fixtures: the real router, the real SDKs over real HTTP to the emulator served on
loopback, and a real SQLite file read back after the router is closed.

``e2e`` (a :class:`Harness`) builds provider configs pointing at the emulator, builds routers
recording into ``tmp_path/r.db``, and reads that database back. One emulator serves the whole
session; each test installs a fresh :class:`Scenario`, so its request counters start at 0.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from automatosx import Router
from automatosx.emulator import EmulatorServer, Scenario
from automatosx.schemas import ProviderConfig
from automatosx.store import RequestRow, open_store

API_KEY = "sk-test-e2e-0123456789abcdefghij"
MODELS = {"claude": "claude-sonnet-4-6", "gemini": "gemini-2.5-flash", "openai": "gpt-4o-mini"}
NAMES = ("claude", "gemini", "openai")

# Fast, deterministic-enough router knobs: tiny backoff, nothing waits long by default.
BASE_OPTIONS: dict[str, Any] = {
    "backoffBaseMs": 1,
    "backoffCapMs": 5,
    "maxRetryWaitMs": 5_000,
}


@dataclass
class Harness:
    """One test's view of the emulator, its router configuration and its database."""

    emulator: EmulatorServer
    scenario: Scenario
    db_path: Path

    models = MODELS

    @property
    def store_url(self) -> str:
        return f"sqlite:///{self.db_path}"

    # -- configuration ---------------------------------------------------------------------

    def base_url(self, name: str) -> str:
        return {
            "claude": self.emulator.anthropic_base_url,
            "gemini": self.emulator.gemini_base_url,
            "openai": self.emulator.openai_base_url,
        }[name]

    def config(self, name: str, **fields: Any) -> ProviderConfig:
        """A provider pointing at the emulator: no router retries, a 5 s timeout and an RPM
        budget too large to matter, unless ``fields`` (snake_case or camelCase) say otherwise."""
        values: dict[str, Any] = {
            "name": name,
            "api_key": API_KEY,
            "base_url": self.base_url(name),
            "timeout": 5_000,
            "max_retries": 0,
            "rate_limits": {"requests_per_minute": 1_000_000},
            "models": [MODELS[name]],
            "default_model": MODELS[name],
        }
        values.update(fields)
        return ProviderConfig.model_validate(values)

    def router(
        self,
        primary: str = "claude",
        fallbacks: Sequence[str] = ("gemini",),
        *,
        providers: Mapping[str, Mapping[str, Any]] | None = None,
        **options: Any,
    ) -> Router:
        """A router over all three emulated providers recording into ``db_path``.

        ``providers`` maps a name to its config overrides; ``options`` are RouterOptions
        fields (camelCase or snake_case) over :data:`BASE_OPTIONS`.
        """
        overrides = providers or {}
        configs = [self.config(name, **overrides.get(name, {})) for name in NAMES]
        opts = {
            **BASE_OPTIONS,
            "primaryProvider": primary,
            "fallbackProviders": list(fallbacks),
            **options,
        }
        return Router(opts, configs, store=self.store_url)

    @staticmethod
    def request(text: str = "Hello there", **fields: Any) -> dict[str, Any]:
        """A seed-shaped request dict with its own requestId (so the test can find its row)."""
        return {
            "requestId": str(uuid.uuid4()),
            "messages": [{"role": "user", "content": text}],
            **fields,
        }

    # -- the emulator ----------------------------------------------------------------------

    def count(self, name: str) -> int:
        """Generation requests the emulator has received for ``name`` in this test."""
        return self.scenario.count(name)

    # -- the database (read after the router's aclose) -------------------------------------

    async def stored(self, request_id: str) -> RequestRow:
        """The request as the store reads it back (public API), with attempts and chunks."""
        async with open_store(self.store_url) as store:
            row = await store.get_request(request_id)
        assert row is not None, f"request {request_id} was not recorded"
        return row

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Rows of a query on the database file, with the stdlib driver."""
        with closing(sqlite3.connect(self.db_path)) as conn:
            conn.row_factory = sqlite3.Row
            return [dict(row) for row in conn.execute(sql, params)]

    def request_row(self, request_id: str) -> dict[str, Any]:
        rows = self.rows("SELECT * FROM provider_requests WHERE id = ?", (request_id,))
        assert len(rows) == 1, f"request {request_id}: {len(rows)} rows"
        row = rows[0]
        row["history"] = json.loads(row["history"])
        return row

    @staticmethod
    def has_run(history: Sequence[str], *states: str) -> bool:
        """Whether ``states`` occur in ``history`` one right after another."""
        n = len(states)
        return any(tuple(history[i : i + n]) == states for i in range(len(history) - n + 1))


@pytest.fixture(scope="session")
def emulator() -> Iterator[EmulatorServer]:
    with EmulatorServer(Scenario()) as server:
        yield server


@pytest.fixture
def e2e(emulator: EmulatorServer, tmp_path: Path) -> Harness:
    """A fresh scenario installed in the shared emulator, and a database path for this test."""
    scenario = Scenario()
    emulator.app.state.scenario = scenario
    return Harness(emulator=emulator, scenario=scenario, db_path=tmp_path / "r.db")
