"""An observer's synchronous ``<event>_now`` is called in place of its coroutine (no await),
in the observers' order, only where the class that defines it is the one overriding the
coroutine; a ``_now`` that must wait hands back an awaitable, awaited before the next
observer is told."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from prometheus_client import CollectorRegistry

from automatosx import Router
from automatosx._routing.recording import StoreObserver
from automatosx.errors import ServerError
from automatosx.observe import AttemptInfo, Observer, Observers, RequestEnd, RequestInfo
from automatosx.store import SQLiteStore
from automatosx.telemetry.prometheus import PrometheusObserver

from .conftest import ScriptedProvider

REQUEST = {"messages": [{"role": "user", "content": "hi"}]}
OPTIONS = {"primaryProvider": "claude", "fallbackProviders": [], "backoffBaseMs": 1}


class Coroutines(Observer):
    """Only coroutines: each event awaited (with a real suspension)."""

    def __init__(self, name: str, log: list[tuple[str, str]]) -> None:
        self.name, self.log = name, log

    async def attempt_started(self, request: RequestInfo, attempt: AttemptInfo) -> None:
        await asyncio.sleep(0)
        self.log.append((self.name, "attempt_started"))

    async def attempt_ended(self, request: RequestInfo, attempt: AttemptInfo) -> None:
        await asyncio.sleep(0)
        self.log.append((self.name, "attempt_ended"))

    async def request_finished(self, request: RequestInfo, outcome: RequestEnd) -> None:
        await asyncio.sleep(0)
        self.log.append((self.name, "request_finished"))


class Now(Observer):
    """Synchronous variants; ``attempt_ended_now`` must wait (hands back its coroutine);
    the coroutines say so if they are ever called instead."""

    def __init__(self, name: str, log: list[tuple[str, str]]) -> None:
        self.name, self.log = name, log

    async def attempt_started(self, request: RequestInfo, attempt: AttemptInfo) -> None:
        self.log.append((self.name, "coroutine attempt_started"))

    def attempt_started_now(self, request: RequestInfo, attempt: AttemptInfo) -> None:
        self.log.append((self.name, "attempt_started"))

    async def attempt_ended(self, request: RequestInfo, attempt: AttemptInfo) -> None:
        self.log.append((self.name, "coroutine attempt_ended"))

    def attempt_ended_now(self, request: RequestInfo, attempt: AttemptInfo) -> Awaitable[None]:
        return self._ended_later()

    async def _ended_later(self) -> None:
        await asyncio.sleep(0)
        self.log.append((self.name, "attempt_ended"))

    async def request_finished(self, request: RequestInfo, outcome: RequestEnd) -> None:
        self.log.append((self.name, "coroutine request_finished"))

    def request_finished_now(self, request: RequestInfo, outcome: RequestEnd) -> None:
        self.log.append((self.name, "request_finished"))


class CoroutineOverride(Now):
    """Overrides one coroutine below the class that defines its ``_now``: the coroutine is
    the one called (what the subclass wrote), the other events keep the inherited ``_now``."""

    async def request_finished(self, request: RequestInfo, outcome: RequestEnd) -> None:
        self.log.append((self.name, "override request_finished"))


async def test_sync_and_async_observers_are_told_in_order_each_event_once() -> None:
    log: list[tuple[str, str]] = []
    observers = [Coroutines("a", log), Now("b", log), CoroutineOverride("c", log)]
    async with Router(OPTIONS, [ScriptedProvider("claude")], observers=observers) as router:
        await router.execute(REQUEST)
    assert log == [
        ("a", "attempt_started"),
        ("b", "attempt_started"),
        ("c", "attempt_started"),
        ("a", "attempt_ended"),
        ("b", "attempt_ended"),
        ("c", "attempt_ended"),
        ("a", "request_finished"),
        ("b", "request_finished"),
        ("c", "override request_finished"),
    ]


async def test_a_pending_now_is_awaited_before_the_next_observer_on_every_attempt() -> None:
    log: list[tuple[str, str]] = []
    observers = [Now("b", log), Coroutines("a", log)]
    claude = ScriptedProvider("claude", [ServerError("boom", provider="claude")])
    async with Router(OPTIONS, [claude], observers=observers) as router:
        await router.execute(REQUEST)  # one retry, then the reply
    ended = [entry for entry in log if entry[1] == "attempt_ended"]
    assert ended == [("b", "attempt_ended"), ("a", "attempt_ended")] * 2
    assert not [entry for entry in log if entry[1].startswith("coroutine")]


def test_the_store_recorder_and_the_metrics_observer_are_called_without_a_coroutine(
    tmp_path: Any,
) -> None:
    recorder = StoreObserver(SQLiteStore(tmp_path / "calls.db"))
    metrics = PrometheusObserver(CollectorRegistry())
    table = Observers([recorder, metrics])
    assert table.request_started_calls == (recorder.request_started_now,)
    assert table.attempt_ended_calls == (recorder.attempt_ended_now, metrics.attempt_ended_now)
    assert table.request_finished_calls == (
        recorder.request_finished_now,
        metrics.request_finished_now,
    )
    assert table.attempt_started_calls == (metrics.attempt_started_now,)
