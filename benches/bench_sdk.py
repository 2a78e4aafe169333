"""The router over each real SDK against the same call made directly on that SDK.

Both sides talk to the in-process emulator (ASGI app) through their own
``httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app))``: the routed side through
``create_provider(config, http_client=...)`` (the built-in adapter, which also reads the
rate-limit headers), the direct side through the SDK client a user would write, SDK retries
off, reading the text and usage. The emulator's own cost (Starlette, JSON, SSE) dominates
both, so the figure is the ratio of medians, routed / direct, per call, measured
interleaved in one event loop: each round's setup runs a direct batch (timed per call by
us), then pytest-benchmark times a routed batch (also timed per call). ``store=None``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import anthropic
import httpx2
import openai
import pytest
from google import genai
from pytest_benchmark.fixture import BenchmarkFixture

from _budget import info, report
from _stub import percentile, time_calls
from automatosx import Router
from automatosx.emulator import Scenario, create_app
from automatosx.providers import create_provider

BATCH, ROUNDS = 20, 40  # 800 calls each side per benchmark: the ratio is noisy
ORIGIN = "http://emulator.invalid"
KEY = "sk-bench-0123456789abcdefghij"
MODELS = {"claude": "claude-sonnet-4-6", "openai": "gpt-4o-mini", "gemini": "gemini-2.5-flash"}
BASE_URLS = {"claude": ORIGIN, "openai": ORIGIN + "/v1", "gemini": ORIGIN}
SYSTEM, USER, MAX_TOKENS, TEMPERATURE = "You are terse.", "Say hello in five words.", 64, 0.7
ROUTED = {
    "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": USER}],
    "maxTokens": MAX_TOKENS,
    "temperature": TEMPERATURE,
}

Call = Callable[[], Awaitable[Any]]


def _http(app: Any) -> httpx2.AsyncClient:
    return httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app))


class Direct:
    """The hand-written SDK calls the router replaces: one per provider and mode."""

    def __init__(self, name: str, app: Any) -> None:
        self.name, self.model, self.http = name, MODELS[name], _http(app)
        if name == "claude":
            self.claude = anthropic.AsyncAnthropic(
                api_key=KEY, base_url=BASE_URLS[name], max_retries=0, http_client=self.http
            )
        elif name == "openai":
            self.gpt = openai.AsyncOpenAI(
                api_key=KEY, base_url=BASE_URLS[name], max_retries=0, http_client=self.http
            )
        else:
            options = genai.types.HttpOptions(base_url=ORIGIN, httpx_async_client=self.http)
            self.gemini = genai.Client(api_key=KEY, http_options=options).aio

    def call(self, mode: str) -> Call:
        return getattr(self, f"_{self.name}_{mode}")  # type: ignore[no-any-return]

    # anthropic 2.x takes sampling parameters in extra_body, as the adapter sends them.
    async def _claude_execute(self) -> tuple[str, int]:
        msg = await self.claude.messages.create(
            model=self.model,
            max_tokens=MAX_TOKENS,
            system=SYSTEM,
            messages=[{"role": "user", "content": USER}],
            extra_body={"temperature": TEMPERATURE},
        )
        text = "".join(block.text for block in msg.content if block.type == "text")
        return text, msg.usage.output_tokens

    async def _claude_stream(self) -> tuple[str, int]:
        parts, tokens = [], 0
        events = await self.claude.messages.create(
            model=self.model,
            max_tokens=MAX_TOKENS,
            system=SYSTEM,
            messages=[{"role": "user", "content": USER}],
            extra_body={"temperature": TEMPERATURE},
            stream=True,
        )
        async for event in events:
            if event.type == "content_block_delta" and event.delta.type == "text_delta":
                parts.append(event.delta.text)
            elif event.type == "message_delta":
                tokens = event.usage.output_tokens
        return "".join(parts), tokens

    def _openai_args(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "messages": [
                {"role": "system", "content": SYSTEM},
                {"role": "user", "content": USER},
            ],
            "temperature": TEMPERATURE,
            "max_completion_tokens": MAX_TOKENS,
        }

    async def _openai_execute(self) -> tuple[str, int]:
        completion = await self.gpt.chat.completions.create(**self._openai_args())
        usage = completion.usage
        return completion.choices[0].message.content or "", usage.completion_tokens if usage else 0

    async def _openai_stream(self) -> tuple[str, int]:
        parts, tokens = [], 0
        chunks = await self.gpt.chat.completions.create(
            **self._openai_args(), stream=True, stream_options={"include_usage": True}
        )
        async for chunk in chunks:
            if chunk.choices and chunk.choices[0].delta.content:
                parts.append(chunk.choices[0].delta.content)
            if chunk.usage is not None:
                tokens = chunk.usage.completion_tokens
        return "".join(parts), tokens

    def _gemini_args(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "contents": [{"role": "user", "parts": [{"text": USER}]}],
            "config": {
                "system_instruction": SYSTEM,
                "temperature": TEMPERATURE,
                "max_output_tokens": MAX_TOKENS,
                "automatic_function_calling": {"disable": True},
            },
        }

    async def _gemini_execute(self) -> tuple[str, int]:
        response = await self.gemini.models.generate_content(**self._gemini_args())
        usage = response.usage_metadata
        return response.text or "", (usage.candidates_token_count or 0) if usage else 0

    async def _gemini_stream(self) -> tuple[str, int]:
        parts, tokens = [], 0
        async for chunk in await self.gemini.models.generate_content_stream(**self._gemini_args()):
            if chunk.text:
                parts.append(chunk.text)
            if chunk.usage_metadata is not None:
                tokens = chunk.usage_metadata.candidates_token_count or 0
        return "".join(parts), tokens

    async def aclose(self) -> None:
        await self.http.aclose()


class Routed:
    """The routed side: the built-in adapter on its own client, behind a store-less Router."""

    def __init__(self, name: str, app: Any) -> None:
        config = {
            "name": name,
            "apiKey": KEY,
            "baseUrl": BASE_URLS[name],
            "maxRetries": 0,
            "rateLimits": {"requestsPerMinute": 1_000_000_000},
            "models": [MODELS[name]],
            "defaultModel": MODELS[name],
        }
        self.http = _http(app)
        self.provider = create_provider(config, http_client=self.http)
        self.router = Router({"primaryProvider": name}, providers=[self.provider], store=None)

    async def aclose(self) -> None:
        await self.router.aclose()
        await self.provider.aclose()
        await self.http.aclose()


@dataclass
class Pair:
    loop: asyncio.AbstractEventLoop
    direct: Direct
    router: Router

    def run(self, coro: Awaitable[Any]) -> Any:
        return self.loop.run_until_complete(coro)


@pytest.fixture(params=["claude", "openai", "gemini"])
def pair(request: pytest.FixtureRequest, loop: asyncio.AbstractEventLoop) -> Iterator[Pair]:
    name = request.param
    app = create_app(Scenario())
    routed = Routed(name, app)
    direct = Direct(name, app)
    loop.run_until_complete(routed.router.open())
    try:
        yield Pair(loop, direct, routed.router)
    finally:
        loop.run_until_complete(routed.aclose())
        loop.run_until_complete(direct.aclose())


async def _routed_stream(router: Router) -> str:
    return await router.stream(ROUTED).text()


@pytest.mark.benchmark(group="sdk")
@pytest.mark.parametrize("mode", ["execute", "stream"])
def test_router_over_sdk(benchmark: BenchmarkFixture, pair: Pair, mode: str) -> None:
    """Per call: the routed call vs the direct SDK call, same emulator, same reply."""
    name = pair.direct.name
    direct_call = pair.direct.call(mode)
    router = pair.router
    routed_call: Call = (
        (lambda: router.execute(ROUTED)) if mode == "execute" else lambda: _routed_stream(router)
    )
    direct: list[int] = []
    routed: list[int] = []

    for call in (direct_call, routed_call):  # warm both paths (imports, pools, caches)
        pair.run(time_calls(call, 20, []))
    benchmark.pedantic(  # type: ignore[no-untyped-call]
        lambda: pair.run(time_calls(routed_call, BATCH, routed)),
        setup=lambda: pair.run(time_calls(direct_call, BATCH, direct)),
        rounds=ROUNDS,
    )
    d50, r50 = percentile(direct, 50), percentile(routed, 50)
    ratio = r50 / d50
    benchmark.extra_info.update(
        {
            "calls": len(routed),
            "direct_p50_us": round(d50 / 1000, 1),
            "routed_p50_us": round(r50 / 1000, 1),
            "routed_over_direct": round(ratio, 4),
            "added_p50_us": round((r50 - d50) / 1000, 1),
        }
    )
    report(f"sdk: router + {name} SDK / direct SDK, {mode}", ratio, 1.05, "x")
    info(f"sdk: direct {name} SDK {mode} (emulator included)", d50 / 1000, "us")


def test_both_sides_get_the_same_reply(loop: asyncio.AbstractEventLoop) -> None:
    """Not a benchmark: both sides of each pair really do the same work."""
    app = create_app(Scenario())
    for name in MODELS:
        direct, routed = Direct(name, app), Routed(name, app)
        try:
            text, tokens = loop.run_until_complete(direct.call("execute")())
            streamed, _ = loop.run_until_complete(direct.call("stream")())
            loop.run_until_complete(routed.router.open())
            reply = loop.run_until_complete(routed.router.execute(ROUTED))
            routed_streamed = loop.run_until_complete(_routed_stream(routed.router))
        finally:
            loop.run_until_complete(routed.aclose())
            loop.run_until_complete(direct.aclose())
        assert text.startswith(f"Emulated reply from {MODELS[name]}")
        assert tokens > 0
        assert streamed == text
        assert reply.provider == name
        assert reply.model == MODELS[name]
        assert reply.content == text
        assert reply.tokens.output_tokens == tokens
        assert routed_streamed == text
