"""The real SDKs pointed at the emulator, in-process (ASGI transport) and over loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import anthropic
import httpx2
import openai
import pytest
from google import genai
from google.genai import types as genai_types
from starlette.applications import Starlette

from automatosx.emulator import EmulatorServer, Scenario, create_app

KEY = "test-key"
IN_PROCESS_ORIGIN = "http://emulator.invalid"


@dataclass
class Emulated:
    """One emulator and an async client of each SDK pointed at it, SDK retries off."""

    mode: str
    app: Starlette
    origin: str
    claude: anthropic.AsyncAnthropic
    gpt: openai.AsyncOpenAI
    gemini: genai.client.AsyncClient
    http: httpx2.AsyncClient  # raw access, same route as the SDKs
    extra: list[openai.AsyncOpenAI | httpx2.AsyncClient] = field(default_factory=list)

    @property
    def scenario(self) -> Scenario:
        scenario: Scenario = self.app.state.scenario
        return scenario

    @scenario.setter
    def scenario(self, scenario: Scenario) -> None:
        self.app.state.scenario = scenario

    def openai_at(self, path: str) -> openai.AsyncOpenAI:
        """Another OpenAI client, for an OpenAI-compatible API under `path` (e.g. /api/v1)."""
        http = (
            httpx2.AsyncClient(transport=httpx2.ASGITransport(app=self.app))
            if self.mode == "in_process"
            else None
        )
        client = openai.AsyncOpenAI(
            api_key=KEY, base_url=self.origin + path, max_retries=0, http_client=http
        )
        self.extra.append(client)
        return client


def sdk_clients(
    mode: str,
    app: Starlette,
    anthropic_url: str,
    openai_url: str,
    gemini_url: str,
) -> Emulated:
    def http() -> httpx2.AsyncClient | None:
        if mode == "in_process":
            return httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app))
        return None

    claude_http, gpt_http = http(), http()
    # google-genai prefers aiohttp when it is installed; the adapters always hand it an httpx2
    # client, and so do these tests (over loopback too), so they see the same errors.
    gemini_http = http() or httpx2.AsyncClient()
    gemini_options = genai_types.HttpOptions(base_url=gemini_url, httpx_async_client=gemini_http)
    emulated = Emulated(
        mode=mode,
        app=app,
        origin=anthropic_url,
        claude=anthropic.AsyncAnthropic(
            api_key=KEY, base_url=anthropic_url, max_retries=0, http_client=claude_http
        ),
        gpt=openai.AsyncOpenAI(
            api_key=KEY, base_url=openai_url, max_retries=0, http_client=gpt_http
        ),
        gemini=genai.Client(api_key=KEY, http_options=gemini_options).aio,
        http=http() or httpx2.AsyncClient(base_url=anthropic_url),
    )
    emulated.extra.append(gemini_http)
    return emulated


async def close(emulated: Emulated) -> None:
    await emulated.claude.close()
    await emulated.gpt.close()
    await emulated.gemini.aclose()
    await emulated.http.aclose()
    for client in emulated.extra:
        if isinstance(client, httpx2.AsyncClient):
            await client.aclose()
        else:
            await client.close()


@asynccontextmanager
async def emulated(mode: str) -> AsyncIterator[Emulated]:
    """Every SDK against a fresh emulator, in-process or over loopback HTTP."""
    app = create_app(Scenario())
    if mode == "in_process":
        origin = IN_PROCESS_ORIGIN
        clients = sdk_clients(mode, app, origin, origin + "/v1", origin)
        clients.http.base_url = httpx2.URL(origin)
        try:
            yield clients
        finally:
            await close(clients)
        return
    async with EmulatorServer(app) as srv:
        clients = sdk_clients(
            mode, app, srv.anthropic_base_url, srv.openai_base_url, srv.gemini_base_url
        )
        try:
            yield clients
        finally:
            await close(clients)


@pytest.fixture(params=["in_process", "loopback"])
async def emu(request: pytest.FixtureRequest) -> AsyncIterator[Emulated]:
    """Each SDK against a fresh emulator, once in-process and once over loopback HTTP."""
    async with emulated(request.param) as clients:
        yield clients


@pytest.fixture
async def loopback() -> AsyncIterator[Emulated]:
    """Over loopback HTTP only: real sockets, real streaming."""
    async with emulated("loopback") as clients:
        yield clients


@pytest.fixture
async def in_process() -> AsyncIterator[Emulated]:
    """In-process only: the SDKs' HTTP clients use httpx2.ASGITransport."""
    async with emulated("in_process") as clients:
        yield clients


def user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]
