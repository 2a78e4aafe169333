"""Shared-state fixtures: the session's Redis (tests/conftest.py), a key prefix per test so
tests never see each other's keys, a Redis of the test's own for the tests that kill it, and
the emulator served on loopback for routers that use the real SDKs over real HTTP."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

import _servers
from automatosx.emulator import EmulatorServer, Scenario
from automatosx.schemas import ProviderConfig

API_KEY = "sk-test-shared-0123456789abcdef"
MODEL = "gpt-4o-mini"


@pytest.fixture
def prefix() -> str:
    return f"t{uuid.uuid4().hex[:12]}:"


@pytest.fixture
def own_redis() -> Iterator[_servers.RedisServer]:
    """A redis-server for this test alone (it may be killed and restarted)."""
    try:
        server = _servers.start_redis()
    except _servers.ServerStartError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def emulator_server() -> Iterator[EmulatorServer]:
    with EmulatorServer(Scenario()) as server:
        yield server


@pytest.fixture
def emulator(emulator_server: EmulatorServer) -> EmulatorServer:
    """The session's emulator with a fresh scenario (counters from 0)."""
    emulator_server.app.state.scenario = Scenario()
    return emulator_server


def openai_config(emulator: EmulatorServer, **fields: Any) -> ProviderConfig:
    """The ``openai`` deployment pointing at the emulator; ``fields`` override."""
    values: dict[str, Any] = {
        "name": "openai",
        "api_key": API_KEY,
        "base_url": emulator.openai_base_url,
        "timeout": 5_000,
        "max_retries": 0,
        "rate_limits": {"requests_per_minute": 1_000_000},
        "models": [MODEL],
        "default_model": MODEL,
    }
    values.update(fields)
    return ProviderConfig.model_validate(values)
