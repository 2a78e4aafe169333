"""Fixtures for the adapter tests: configs, an in-process wire (httpx2.MockTransport) that
records what the SDK sent, and the emulator served on loopback."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx2
import pytest

from automatosx.emulator import EmulatorServer, Scenario
from automatosx.providers import Provider, create_provider
from automatosx.providers.base import StreamEnd
from automatosx.schemas import ProviderConfig, ProviderRequest

API_KEY = "test-key-of-no-known-shape-0042"
"""Of no shape errors.redact knows: only redacting with the adapter's own key hides it."""
MODELS = {"claude": "claude-sonnet-4-6", "openai": "gpt-4o-mini", "gemini": "gemini-2.5-flash"}
NAMES = ("claude", "openai", "gemini")


def make_config(name: str, **fields: Any) -> ProviderConfig:
    values: dict[str, Any] = {
        "name": name,
        "api_key": API_KEY,
        "rate_limits": {"requests_per_minute": 60},
        "models": [MODELS[name]],
        "default_model": MODELS[name],
    }
    values.update(fields)
    return ProviderConfig.model_validate(values)


def make_request(*, system: str | None = "Be brief.", **fields: Any) -> ProviderRequest:
    messages = [{"role": "user", "content": "Hello there"}]
    if system is not None:
        messages.insert(0, {"role": "system", "content": system})
    return ProviderRequest.model_validate({"messages": messages, **fields})


async def collect(provider: Provider, request: ProviderRequest) -> tuple[list[str], StreamEnd]:
    """Drain a stream: its text chunks, and the StreamEnd (asserted to come once, last)."""
    events = [event async for event in provider.stream(request)]
    assert events, "the stream yielded nothing"
    *chunks, end = events
    assert isinstance(end, StreamEnd)
    assert all(isinstance(chunk, str) for chunk in chunks)
    return [str(chunk) for chunk in chunks], end


Handler = Callable[[httpx2.Request], httpx2.Response]


class Wire:
    """An httpx2 client over MockTransport: answers with ``handler`` and keeps each request."""

    def __init__(self, handler: Handler) -> None:
        self.requests: list[httpx2.Request] = []
        self._handler = handler
        self.client = httpx2.AsyncClient(transport=httpx2.MockTransport(self._handle))

    def _handle(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        return self._handler(request)

    @property
    def body(self) -> Any:
        """The JSON body of the last request."""
        return json.loads(self.requests[-1].content)


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Handler:
    return lambda request: httpx2.Response(status, json=body, headers=headers)


def sse_response(text: str, headers: dict[str, str] | None = None) -> Handler:
    all_headers = {"content-type": "text/event-stream", **(headers or {})}
    return lambda request: httpx2.Response(200, content=text.encode(), headers=all_headers)


@pytest.fixture
async def wire_provider() -> AsyncIterator[Callable[..., tuple[Provider, Wire]]]:
    """``wire_provider(name, handler, **config)``: an adapter whose SDK talks to a Wire."""
    made: list[tuple[Provider, Wire]] = []

    def make(name: str, handler: Handler, **fields: Any) -> tuple[Provider, Wire]:
        wire = Wire(handler)
        provider = create_provider(make_config(name, **fields), http_client=wire.client)
        made.append((provider, wire))
        return provider, wire

    yield make
    for provider, wire in made:
        await provider.aclose()
        await wire.client.aclose()


@pytest.fixture(scope="session")
def emulator() -> Iterator[EmulatorServer]:
    with EmulatorServer(Scenario()) as server:
        yield server


@pytest.fixture
def scenario(emulator: EmulatorServer) -> Scenario:
    """A fresh scenario installed in the emulator for this test."""
    fresh = Scenario()
    emulator.app.state.scenario = fresh
    return fresh


def base_url(emulator: EmulatorServer, name: str) -> str:
    return {
        "claude": emulator.anthropic_base_url,
        "openai": emulator.openai_base_url,
        "gemini": emulator.gemini_base_url,
    }[name]


@pytest.fixture
async def live_provider(
    emulator: EmulatorServer, scenario: Scenario
) -> AsyncIterator[Callable[..., Provider]]:
    """``live_provider(name, **config)``: an adapter talking HTTP to the loopback emulator."""
    made: list[Provider] = []

    def make(name: str, **fields: Any) -> Provider:
        fields.setdefault("base_url", base_url(emulator, name))
        provider = create_provider(make_config(name, **fields))
        made.append(provider)
        return provider

    yield make
    for provider in made:
        await provider.aclose()
