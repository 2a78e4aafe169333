"""Hardening fixtures: the real router and SDKs over real HTTP to the emulator on loopback,
recording into a real SQLite file that the tests read back with the stdlib driver.

``hx`` (a :class:`Bench`) builds routers over the three emulated providers and reads the
database; one emulator serves the session, each test installs a fresh scenario.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from automatosx import Router
from automatosx.emulator import EmulatorServer, Scenario
from automatosx.schemas import ProviderConfig
from automatosx.store import Store

API_KEY = "sk-test-hardening-0123456789abcdefghij"
MODELS = {"claude": "claude-sonnet-4-6", "gemini": "gemini-2.5-flash", "openai": "gpt-4o-mini"}
NAMES = ("claude", "gemini", "openai")
TERMINAL = ("completed", "failed")


@dataclass
class Bench:
    """One test's emulator scenario, router configuration and database."""

    emulator: EmulatorServer
    scenario: Scenario
    db_path: Path

    @property
    def store_url(self) -> str:
        return f"sqlite:///{self.db_path}"

    def config(self, name: str, **fields: Any) -> ProviderConfig:
        base = {
            "claude": self.emulator.anthropic_base_url,
            "gemini": self.emulator.gemini_base_url,
            "openai": self.emulator.openai_base_url,
        }[name]
        values: dict[str, Any] = {
            "name": name,
            "api_key": API_KEY,
            "base_url": base,
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
        fallbacks: Sequence[str] = (),
        *,
        store: str | Store | None = "",
        **options: Any,
    ) -> Router:
        """A router over the three emulated providers recording into ``db_path`` (or
        ``store``); ``options`` are RouterOptions fields."""
        opts = {
            "backoffBaseMs": 1,
            "backoffCapMs": 5,
            "primaryProvider": primary,
            "fallbackProviders": list(fallbacks),
            "enableFallback": bool(fallbacks),
            **options,
        }
        configs = [self.config(name) for name in NAMES]
        return Router(opts, configs, store=self.store_url if store == "" else store)

    @staticmethod
    def request(text: str = "Hello there", **fields: Any) -> dict[str, Any]:
        return {
            "requestId": str(uuid.uuid4()),
            "messages": [{"role": "user", "content": text}],
            **fields,
        }

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with closing(sqlite3.connect(self.db_path)) as conn:
            conn.row_factory = sqlite3.Row
            return [dict(row) for row in conn.execute(sql, params)]

    def states(self) -> dict[str, tuple[str, str | None]]:
        """Every recorded request: id -> (state, error_code)."""
        rows = self.rows("SELECT id, state, error_code FROM provider_requests")
        return {r["id"]: (r["state"], r["error_code"]) for r in rows}

    def history(self, request_id: str) -> list[str]:
        (row,) = self.rows("SELECT history FROM provider_requests WHERE id = ?", (request_id,))
        history: list[str] = json.loads(row["history"])
        return history


@pytest.fixture(scope="session")
def emulator() -> Iterator[EmulatorServer]:
    with EmulatorServer(Scenario()) as server:
        yield server


@pytest.fixture
def hx(emulator: EmulatorServer, tmp_path: Path) -> Bench:
    scenario = Scenario()
    emulator.app.state.scenario = scenario
    return Bench(emulator=emulator, scenario=scenario, db_path=tmp_path / "r.db")
