"""A user-written adapter (the Provider protocol) whose every call follows a script."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

from automatosx import (
    ProviderHealth,
    ProviderRequest,
    ProviderResponse,
    RateLimitInfo,
    TokenUsage,
)
from automatosx.providers.base import StreamEnd

Step = BaseException | str | list[Any] | Callable[[], Any] | None
"""One call's script: an exception to raise, a reply text, a stream (text chunks and
exceptions, in order), a coroutine function to await, or None for the default reply."""


class ScriptedProvider:
    """Follows ``script`` call by call; after the script, replies normally."""

    def __init__(self, name: str, script: Iterable[Step] = (), *, default_model: str = "m-1"):
        self._name = name
        self.script = list(script)
        self.default_model = default_model
        self.max_retries = 3
        self.timeout = 60_000
        self.requests: list[ProviderRequest] = []
        self.closed = False

    @property
    def name(self) -> Any:
        return self._name

    @property
    def rate_limit(self) -> RateLimitInfo | None:
        return None

    def _next(self) -> Step:
        return self.script.pop(0) if self.script else None

    async def execute(self, request: ProviderRequest) -> ProviderResponse:
        self.requests.append(request)
        step = self._next()
        if callable(step) and not isinstance(step, BaseException):
            await step()
            step = None
        if isinstance(step, BaseException):
            raise step
        text = step if isinstance(step, str) else f"{self._name} says hi"
        return ProviderResponse(
            request_id=request.request_id,
            provider=self._name,
            model=request.model or self.default_model,
            content=text,
            tokens=TokenUsage(input_tokens=3, output_tokens=4, total_tokens=7),
            finish_reason="stop",
            duration=1,
        )

    async def stream(self, request: ProviderRequest) -> AsyncIterator[str | StreamEnd]:
        self.requests.append(request)
        step = self._next()
        if callable(step) and not isinstance(step, BaseException):
            await step()
            step = None
        if isinstance(step, BaseException):
            raise step
        items = step if isinstance(step, list) else ["Hello", " World"]
        for item in items:
            if isinstance(item, BaseException):
                raise item
            if callable(item):
                await item()
                continue
            yield item
        yield StreamEnd(TokenUsage(input_tokens=2, output_tokens=2, total_tokens=4), "stop")

    async def check_health(self) -> ProviderHealth:
        return ProviderHealth(provider=self._name, status="healthy", latency=1.0)

    async def aclose(self) -> None:
        self.closed = True


def sleeper(seconds: float) -> Callable[[], Any]:
    async def sleep() -> None:
        await asyncio.sleep(seconds)

    return sleep


FAST = {"backoffBaseMs": 1, "backoffCapMs": 2}
REQUEST = {"messages": [{"role": "user", "content": "hello"}]}


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'router.db'}"
