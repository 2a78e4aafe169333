"""An in-process provider that costs almost nothing, and per-call timing helpers.

``StubProvider`` implements the Provider protocol of ``automatosx.providers.base`` the way a
user's own adapter would. Its reply is built once; each call only copies it with the caller's
request id (so SQLite rows reference the right request and the router prices every reply),
which costs the same whether the router or the benchmark calls it. Carrying a real
``ProviderConfig`` gives it what a built-in adapter gets from the router: a circuit breaker
and a rate limiter (with a budget too large to ever wait).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

from automatosx.providers.base import StreamEnd, StreamEvent
from automatosx.schemas import (
    ProviderConfig,
    ProviderHealth,
    ProviderName,
    ProviderRequest,
    ProviderResponse,
    RateLimitInfo,
    TokenUsage,
)

__all__ = [
    "MODEL",
    "PROMPT",
    "StubProvider",
    "percentile",
    "stub_config",
    "time_calls",
]

MODEL = "claude-sonnet-4-5"
PROMPT: dict[str, Any] = {
    "messages": [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Say hello in five words."},
    ],
    "maxTokens": 64,
    "temperature": 0.7,
}
"""A typical request in the seed's JSON shape: a system prompt, one user turn, two knobs."""


def stub_config() -> ProviderConfig:
    return ProviderConfig.model_validate(
        {
            "name": "claude",
            "apiKey": "sk-bench-0123456789",
            "timeout": 30_000,
            "maxRetries": 2,
            "rateLimits": {"requestsPerMinute": 1_000_000_000, "tokensPerMinute": 1_000_000_000},
            "models": [MODEL],
            "defaultModel": MODEL,
        }
    )


_new = object.__new__
_setattr = object.__setattr__


class StubProvider:
    """A ``claude`` adapter that answers at once; streamed, it yields ``request.max_tokens``
    text pieces (at most ``chunks``), then the usage."""

    name: ProviderName = "claude"
    rate_limit: RateLimitInfo | None = None

    def __init__(self, chunks: int = 100) -> None:
        self.config = stub_config()
        self.default_model = MODEL
        usage = TokenUsage(input_tokens=12, output_tokens=chunks, total_tokens=12 + chunks)
        self._reply = ProviderResponse(
            request_id="00000000-0000-4000-8000-000000000000",
            provider="claude",
            model=MODEL,
            content="Hello there, nice to meet.",
            tokens=usage,
            finish_reason="stop",
            duration=0,
        )
        self._pieces = [f"w{i} " for i in range(chunks)]
        self._end = StreamEnd(usage, "stop", MODEL)

    async def execute(self, request: ProviderRequest) -> ProviderResponse:
        # A shallow copy with this request's id and no cost, without pydantic validation.
        reply = _new(ProviderResponse)
        data = dict(self._reply.__dict__)
        data["request_id"] = request.request_id
        _setattr(reply, "__dict__", data)
        _setattr(reply, "__pydantic_fields_set__", self._reply.__pydantic_fields_set__)
        _setattr(reply, "__pydantic_extra__", None)
        _setattr(reply, "__pydantic_private__", None)
        return reply

    async def stream(self, request: ProviderRequest) -> AsyncIterator[StreamEvent]:
        # ``max_tokens`` chunks (at most ``chunks``): one stub serves streams of any length.
        for piece in self._pieces[: request.max_tokens]:
            yield piece
        yield self._end

    async def check_health(self) -> ProviderHealth:
        return ProviderHealth(provider="claude", status="healthy")

    async def aclose(self) -> None:
        return None


async def time_calls(call: Callable[[], Awaitable[Any]], n: int, into: list[int]) -> None:
    """Await ``call()`` ``n`` times, appending each call's wall time (ns) to ``into``."""
    clock = time.perf_counter_ns
    append = into.append
    for _ in range(n):
        t0 = clock()
        await call()
        append(clock() - t0)


def percentile(samples: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100), nearest rank, of unsorted samples."""
    ordered = sorted(samples)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered)) - 1))
    return float(ordered[rank])
