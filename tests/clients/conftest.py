"""Third-party client libraries pointed at the emulator served on loopback: what users do to
test their own code against it. One emulator for the session; each test gets a fresh scenario.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from automatosx.emulator import EmulatorServer, Scenario

API_KEY = "sk-test-clients-0123456789abcdef"
MODELS = {"claude": "claude-sonnet-4-6", "openai": "gpt-4o-mini", "gemini": "gemini-2.5-flash"}


@pytest.fixture(scope="session")
def emulator_server() -> Iterator[EmulatorServer]:
    with EmulatorServer(Scenario()) as server:
        yield server


@pytest.fixture
def emulator(emulator_server: EmulatorServer) -> EmulatorServer:
    emulator_server.app.state.scenario = Scenario()
    return emulator_server
