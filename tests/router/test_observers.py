"""Observers see a request's whole life — skips included — in order; a router without
observers never calls them."""

from __future__ import annotations

from typing import Any

import pytest

from automatosx import Router
from automatosx.errors import ServerError
from automatosx.observe import AttemptInfo, Observer, RequestEnd, RequestInfo, SkipInfo

from .conftest import ScriptedProvider

REQUEST = {"messages": [{"role": "user", "content": "hi"}]}


class Log(Observer):
    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []

    async def request_started(self, request: RequestInfo) -> None:
        self.events.append(("started", request.provider, request.stream))

    async def candidate_skipped(self, request: RequestInfo, skip: SkipInfo) -> None:
        self.events.append(("skipped", skip.provider, skip.code, skip.breaker_state))

    async def attempt_started(self, request: RequestInfo, attempt: AttemptInfo) -> None:
        self.events.append(("attempt", attempt.number, attempt.provider))

    async def attempt_ended(self, request: RequestInfo, attempt: AttemptInfo) -> None:
        self.events.append(("ended", attempt.number, attempt.outcome, attempt.decision))

    async def chunk(self, request: RequestInfo, index: int, text: str) -> None:
        self.events.append(("chunk", index, text))

    async def request_finished(self, request: RequestInfo, outcome: RequestEnd) -> None:
        self.events.append(("finished", outcome.state, outcome.error_code, outcome.attempts))


def options(**extra: Any) -> dict[str, Any]:
    return {
        "primaryProvider": "claude",
        "fallbackProviders": ["gemini"],
        "backoffBaseMs": 1,
        "backoffCapMs": 2,
        "circuitBreakerThreshold": 1,
        **extra,
    }


async def test_observer_sees_retry_fallback_and_success_in_order() -> None:
    log = Log()
    claude = ScriptedProvider("claude", [ServerError("boom", provider="claude")] * 2)
    claude.max_retries = 1
    gemini = ScriptedProvider("gemini")
    async with Router(options(circuitBreakerThreshold=5), [claude, gemini], observers=[log]) as r:
        reply = await r.execute(REQUEST)
    assert reply.provider == "gemini"
    assert log.events == [
        ("started", "claude", False),
        ("attempt", 1, "claude"),
        ("ended", 1, "failure", "retry"),
        ("attempt", 2, "claude"),
        ("ended", 2, "failure", "fallback"),
        ("attempt", 3, "gemini"),
        ("ended", 3, "success", None),
        ("finished", "completed", None, 3),
    ]


async def test_observer_sees_a_skipped_candidate() -> None:
    log = Log()
    claude = ScriptedProvider("claude", [ServerError("boom", provider="claude")])
    claude.max_retries = 0
    async with Router(options(), [claude, ScriptedProvider("gemini")], observers=[log]) as r:
        await r.execute(REQUEST)  # opens claude's breaker (threshold 1)
        log.events.clear()
        await r.execute(REQUEST)
    assert log.events[:2] == [
        ("started", "claude", False),
        ("skipped", "claude", "CIRCUIT_OPEN", "open"),
    ]
    assert log.events[-1] == ("finished", "completed", None, 1)


async def test_observer_sees_chunks_of_a_stream() -> None:
    log = Log()
    claude = ScriptedProvider("claude", [["Hel", "lo"]])
    async with Router(options(fallbackProviders=[]), [claude], observers=[log]) as r:
        chunks = [c.chunk async for c in r.stream(REQUEST)]
    assert chunks == ["Hel", "lo", ""]
    assert ("chunk", 0, "Hel") in log.events
    assert ("chunk", 1, "lo") in log.events
    assert log.events[0] == ("started", "claude", True)


async def test_invalid_input_is_one_finished_event() -> None:
    log = Log()
    async with Router(
        options(fallbackProviders=[]), [ScriptedProvider("claude")], observers=[log]
    ) as r:
        with pytest.raises(ValueError, match="messages"):
            await r.execute({"messages": []})
    assert log.events == [("finished", "failed", "VALIDATION_ERROR", 0)]


class Partial(Observer):
    def __init__(self) -> None:
        self.finished = 0

    async def request_finished(self, request: RequestInfo, outcome: RequestEnd) -> None:
        self.finished += 1


def test_observers_group_only_the_events_each_one_overrides() -> None:
    from automatosx.observe import Observers

    partial = Partial()
    group = Observers([partial])
    assert group.request_finished == (partial,)
    assert group.chunk == ()
    assert group.attempt_started == ()
    with pytest.raises(TypeError, match="Observer"):
        Observers([object()])  # type: ignore[list-item]
