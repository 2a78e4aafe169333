"""The real SDKs pointed at the emulator, in-process (ASGI transport) and over loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

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
    claude: anthropic.AsyncAnthropic
    gpt: openai.AsyncOpenAI
    gemini: genai.client.AsyncClient
    http: httpx2.AsyncClient  # raw access, same route as the SDKs

    @property
    def scenario(self) -> Scenario:
        scenario: Scenario = self.app.state.scenario
        return scenario

    @scenario.setter
    def scenario(self, scenario: Scenario) -> None:
        self.app.state.scenario = scenario


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

    claude_http, gpt_http, gemini_http = http(), http(), http()
    gemini_options = genai_types.HttpOptions(base_url=gemini_url)
    if gemini_http is not None:
        gemini_options.httpx_async_client = gemini_http
    return Emulated(
        mode=mode,
        app=app,
        claude=anthropic.AsyncAnthropic(
            api_key=KEY, base_url=anthropic_url, max_retries=0, http_client=claude_http
        ),
        gpt=openai.AsyncOpenAI(
            api_key=KEY, base_url=openai_url, max_retries=0, http_client=gpt_http
        ),
        gemini=genai.Client(api_key=KEY, http_options=gemini_options).aio,
        http=http() or httpx2.AsyncClient(base_url=anthropic_url),
    )


async def close(emulated: Emulated) -> None:
    await emulated.claude.close()
    await emulated.gpt.close()
    await emulated.gemini.aclose()
    await emulated.http.aclose()


@pytest.fixture(params=["in_process", "loopback"])
async def emu(request: pytest.FixtureRequest) -> AsyncIterator[Emulated]:
    """Each SDK against a fresh emulator, once in-process and once over loopback HTTP."""
    app = create_app(Scenario())
    if request.param == "in_process":
        emulated = sdk_clients(
            "in_process", app, IN_PROCESS_ORIGIN, IN_PROCESS_ORIGIN + "/v1", IN_PROCESS_ORIGIN
        )
        emulated.http.base_url = httpx2.URL(IN_PROCESS_ORIGIN)
        yield emulated
        await close(emulated)
        return
    async with EmulatorServer(app) as srv:
        emulated = sdk_clients(
            "loopback", app, srv.anthropic_base_url, srv.openai_base_url, srv.gemini_base_url
        )
        yield emulated
        await close(emulated)


@pytest.fixture
async def loopback() -> AsyncIterator[Emulated]:
    """Each SDK against a fresh emulator over loopback HTTP only (real streaming, real sockets)."""
    app = create_app(Scenario())
    async with EmulatorServer(app) as srv:
        emulated = sdk_clients(
            "loopback", app, srv.anthropic_base_url, srv.openai_base_url, srv.gemini_base_url
        )
        yield emulated
        await close(emulated)


def user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]
