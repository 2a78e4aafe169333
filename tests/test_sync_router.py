"""SyncRouter: the async router from plain threads, over the real SDKs and real HTTP to the
emulator, recording into a real SQLite file that is read back after the router is closed."""

from __future__ import annotations

import asyncio
import faulthandler
import gc
import os
import signal
import socket
import sqlite3
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from automatosx import (
    AllProvidersFailedError,
    ConfigurationError,
    InvalidRequestError,
    RequestValidationError,
    SyncRouter,
)
from automatosx.emulator import EmulatorServer, Rule, Scenario
from automatosx.providers.base import StreamEvent
from automatosx.schemas import (
    ProviderConfig,
    ProviderHealth,
    ProviderName,
    ProviderRequest,
    ProviderResponse,
    RateLimitInfo,
    TokenUsage,
)

MODELS = {"claude": "claude-sonnet-4-6", "gemini": "gemini-2.5-flash", "openai": "gpt-4o-mini"}
OPTIONS: dict[str, Any] = {
    "primaryProvider": "claude",
    "fallbackProviders": ["openai"],
    "backoffBaseMs": 1,
    "backoffCapMs": 5,
}


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorServer]:
    with EmulatorServer(Scenario()) as server:
        yield server


@pytest.fixture
def scenario(emulator: EmulatorServer) -> Scenario:
    fresh = Scenario()
    emulator.app.state.scenario = fresh
    return fresh


def configs(server: EmulatorServer) -> list[ProviderConfig]:
    urls = {
        "claude": server.anthropic_base_url,
        "gemini": server.gemini_base_url,
        "openai": server.openai_base_url,
    }
    return [
        ProviderConfig.model_validate(
            {
                "name": name,
                "apiKey": "sk-test-sync-0123456789abcdef",
                "baseUrl": urls[name],
                "timeout": 5_000,
                "maxRetries": 0,
                "rateLimits": {"requestsPerMinute": 1_000_000},
                "models": [model],
                "defaultModel": model,
            }
        )
        for name, model in MODELS.items()
    ]


def request(text: str = "Hello there", **fields: Any) -> dict[str, Any]:
    return {
        "requestId": str(uuid.uuid4()),
        "messages": [{"role": "user", "content": text}],
        **fields,
    }


def rows(db: Path, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    with closing(sqlite3.connect(db)) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(row) for row in conn.execute(sql, params)]


def client_sockets_to(port: int) -> int:
    """Open sockets of this process whose peer is ``port`` (the clients' side only)."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if not os.readlink(f"/proc/self/fd/{fd}").startswith("socket:"):
                continue
            with socket.socket(fileno=os.dup(int(fd))) as sock:  # the family is detected
                peer = sock.getpeername()
            if isinstance(peer, tuple) and peer[1] == port:
                count += 1
        except OSError:
            continue
    return count


def test_threads_share_one_router_and_every_request_is_recorded_completed(
    emulator: EmulatorServer, scenario: Scenario, tmp_path: Path
) -> None:
    db = tmp_path / "r.db"
    threads, per_thread = 6, 15
    with SyncRouter(OPTIONS, configs(emulator), store=f"sqlite:///{db}") as router:

        def worker(n: int) -> list[tuple[str, str]]:
            sent = []
            for i in range(per_thread):
                req = request(f"thread {n} request {i}")
                reply = router.execute(req)
                sent.append((req["requestId"], reply.request_id))
            return sent

        with ThreadPoolExecutor(threads) as pool:
            results = [pair for chunk in pool.map(worker, range(threads)) for pair in chunk]

    assert all(sent == got for sent, got in results)
    assert scenario.count("claude") == threads * per_thread
    recorded = rows(db, "SELECT id, state FROM provider_requests")
    assert {r["id"] for r in recorded} == {sent for sent, _ in results}
    assert {r["state"] for r in recorded} == {"completed"}
    assert len(rows(db, "SELECT request_id FROM provider_responses")) == threads * per_thread


class _Gate:
    """A user adapter whose calls finish only once ``width`` of them are in flight together:
    if the SyncRouter ran requests one at a time, none would finish."""

    name: ProviderName = "claude"
    rate_limit: RateLimitInfo | None = None

    def __init__(self, width: int) -> None:
        self.config = configs_for_gate()
        self.default_model = MODELS["claude"]
        self._width = width
        self._arrived = 0
        self._all_in: asyncio.Event | None = None

    async def execute(self, request: ProviderRequest) -> ProviderResponse:
        if self._all_in is None:
            self._all_in = asyncio.Event()
        self._arrived += 1
        if self._arrived >= self._width:
            self._all_in.set()
        await asyncio.wait_for(self._all_in.wait(), timeout=10)
        return ProviderResponse(
            request_id=request.request_id,
            provider="claude",
            model=self.default_model,
            content="together",
            tokens=TokenUsage(input_tokens=1, output_tokens=1, total_tokens=2),
            duration=0,
        )

    async def stream(self, request: ProviderRequest) -> AsyncIterator[StreamEvent]:
        yield "unused"

    async def check_health(self) -> ProviderHealth:
        return ProviderHealth(provider="claude", status="healthy")

    async def aclose(self) -> None:
        return None


def configs_for_gate() -> ProviderConfig:
    return ProviderConfig.model_validate(
        {
            "name": "claude",
            "apiKey": "sk-test-gate-0123456789",
            "rateLimits": {"requestsPerMinute": 1_000_000},
            "models": [MODELS["claude"]],
            "defaultModel": MODELS["claude"],
        }
    )


def test_requests_from_many_threads_are_in_flight_at_once() -> None:
    width = 8
    with (
        SyncRouter({"primaryProvider": "claude"}, [_Gate(width)]) as router,
        ThreadPoolExecutor(width) as pool,
    ):
        replies = list(pool.map(lambda _: router.execute(request()), range(width)))
    assert [r.content for r in replies] == ["together"] * width


def test_stream_from_a_thread_yields_every_chunk_then_the_response(
    emulator: EmulatorServer, scenario: Scenario, tmp_path: Path
) -> None:
    db = tmp_path / "r.db"
    req = request("Stream me a reply please")
    got: dict[str, Any] = {}
    with SyncRouter(OPTIONS, configs(emulator), store=f"sqlite:///{db}") as router:

        def consume() -> None:
            stream = router.stream(req)
            got["chunks"] = list(stream)
            got["response"] = stream.response

        thread = threading.Thread(target=consume)
        thread.start()
        thread.join()

    chunks, response = got["chunks"], got["response"]
    assert chunks[-1].done
    assert not any(c.done for c in chunks[:-1])
    assert [c.index for c in chunks[:-1]] == list(range(len(chunks) - 1))
    assert response is not None
    assert response.content == "".join(c.chunk for c in chunks)
    assert "Stream me a reply please" in response.content
    (row,) = rows(
        db, "SELECT state, stream FROM provider_requests WHERE id = ?", (req["requestId"],)
    )
    assert row == {"state": "completed", "stream": 1}


@pytest.mark.parametrize("how", ["with", "close"])
def test_leaving_a_stream_early_records_it_cancelled(
    emulator: EmulatorServer, scenario: Scenario, tmp_path: Path, how: str
) -> None:
    db = tmp_path / "r.db"
    req = request("Stream a long answer")
    with SyncRouter(OPTIONS, configs(emulator), store=f"sqlite:///{db}") as router:
        if how == "with":
            with router.stream(req) as stream:
                first = next(stream)
        else:
            stream = router.stream(req)
            first = next(stream)
            stream.close()
        assert stream.response is None
        assert list(stream) == []  # a closed stream is exhausted

    assert first.chunk
    (row,) = rows(
        db, "SELECT state, error_code FROM provider_requests WHERE id = ?", (req["requestId"],)
    )
    assert row == {"state": "failed", "error_code": "CANCELLED"}
    assert scenario.counts() == {"claude": 1, "gemini": 0, "openai": 0}


def test_errors_are_raised_in_the_callers_thread_with_their_own_types(
    emulator: EmulatorServer, scenario: Scenario, tmp_path: Path
) -> None:
    db = tmp_path / "r.db"
    failing = request("everyone fails")
    with SyncRouter(OPTIONS, configs(emulator), store=f"sqlite:///{db}") as router:
        with pytest.raises(RequestValidationError, match="messages"):
            router.execute({"messages": []})

        scenario.add(Rule(provider="claude", status=400))
        with pytest.raises(InvalidRequestError):
            router.execute(request("bad"))
        scenario.clear()

        scenario.add(Rule(provider="*", status=500))
        with pytest.raises(AllProvidersFailedError) as info:
            router.execute(failing)
        assert [a.provider for a in info.value.attempts] == ["claude", "openai"]

        with pytest.raises(AllProvidersFailedError), router.stream(request("stream")) as stream:
            next(stream)

    states = {r["state"] for r in rows(db, "SELECT state FROM provider_requests")}
    assert states == {"failed"}
    assert len(rows(db, "SELECT id FROM provider_requests")) == 4


def test_a_closed_or_unopened_router_raises_configuration_error(
    emulator: EmulatorServer, scenario: Scenario
) -> None:
    router = SyncRouter(OPTIONS, configs(emulator))
    with pytest.raises(ConfigurationError, match="unopened"):
        router.execute(request())
    router.open()
    router.close()
    router.close()  # idempotent
    with pytest.raises(ConfigurationError, match="closed"):
        router.execute(request())
    with pytest.raises(ConfigurationError, match="closed"):
        router.stream(request())
    with pytest.raises(ConfigurationError, match="closed"):
        router.check_health()
    with pytest.raises(ConfigurationError, match="only once"):
        router.open()


def test_a_router_that_fails_to_open_leaves_no_thread() -> None:
    before = threading.active_count()
    router = SyncRouter({"primaryProvider": "gemini"}, [configs_for_gate()])
    with pytest.raises(ConfigurationError, match="gemini"):
        router.open()
    assert threading.active_count() == before


def test_a_garbage_collected_router_leaves_no_thread_or_connection(
    emulator: EmulatorServer, scenario: Scenario, tmp_path: Path
) -> None:
    gc.collect()
    threads_before = threading.active_count()
    router = SyncRouter(OPTIONS, configs(emulator), store=f"sqlite:///{tmp_path / 'r.db'}")
    router.open()
    router.execute(request())
    router.stream(request()).text()
    assert threading.active_count() > threads_before
    assert client_sockets_to(emulator.port) > 0

    del router
    gc.collect()

    assert threading.active_count() == threads_before
    assert client_sockets_to(emulator.port) == 0
    (row,) = rows(tmp_path / "r.db", "SELECT count(*) AS n FROM provider_requests")
    assert row["n"] == 2  # the store was flushed on the way out


def test_it_works_inside_a_running_event_loop(emulator: EmulatorServer, scenario: Scenario) -> None:
    async def notebook_cell() -> str:
        with SyncRouter(OPTIONS, configs(emulator)) as router:
            return router.execute(request("from a notebook")).content

    assert "from a notebook" in asyncio.run(notebook_cell())


def test_health_breakers_and_providers_are_reported(
    emulator: EmulatorServer, scenario: Scenario, tmp_path: Path
) -> None:
    db = tmp_path / "r.db"
    with SyncRouter(OPTIONS, configs(emulator), store=f"sqlite:///{db}") as router:
        assert set(router.providers) == {"claude", "gemini", "openai"}
        assert router.breaker_state("claude") == "closed"
        health = router.check_health()
    assert {name: h.status for name, h in health.items()} == dict.fromkeys(MODELS, "healthy")
    assert len(rows(db, "SELECT provider FROM provider_health")) == 3


# -- across os.fork() and close() under load (issue 19, item 6) ----------------------------


def in_child(router: SyncRouter, within_s: float = 60.0) -> str:
    """Fork; in the child call ``router.execute`` and report what happened through a pipe.
    The parent waits at most ``within_s``: a child that blocks is killed and reported."""
    read_end, write_end = os.pipe()
    stacks = tempfile.NamedTemporaryFile(prefix="fork-", suffix=".txt", delete=False)  # noqa: SIM115
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        os.close(read_end)
        # A child that blocks writes where every thread of it stood, for the report below.
        faulthandler.dump_traceback_later(within_s - 5, exit=False, file=stacks)
        try:
            response = router.execute(request("from the child"))
            outcome = f"ok {response.provider}"
        except BaseException as exc:
            outcome = f"raised {type(exc).__name__}: {exc}"
        router.close()  # what a worker's exit does (the finalizer): the child's row is flushed
        os.write(write_end, outcome.encode())
        os._exit(0)
    os.close(write_end)
    try:
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            time.sleep(0.02)
        else:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return "blocked; the child's threads:\n" + Path(stacks.name).read_text()
        return os.read(read_end, 4096).decode()
    finally:
        os.close(read_end)
        stacks.close()
        os.unlink(stacks.name)


def test_after_fork_the_childs_execute_works_on_a_new_loop_and_new_clients(
    emulator: EmulatorServer, scenario: Scenario, tmp_path: Path
) -> None:
    db = tmp_path / "fork.db"
    with SyncRouter(OPTIONS, configs(emulator), store=f"sqlite:///{db}") as router:
        router.execute(request("from the parent"))  # loop thread, clients, store all live
        outcome = in_child(router)
        assert outcome == "ok claude", outcome
        assert router.execute(request("the parent again")).provider == "claude"
    texts = rows(db, "SELECT state FROM provider_requests")
    assert [r["state"] for r in texts] == ["completed"] * 3  # the child's row included


def test_after_fork_a_router_built_on_instances_refuses_at_once(
    emulator: EmulatorServer, scenario: Scenario
) -> None:
    from automatosx.store import SQLiteStore  # an instance cannot cross a fork

    with SyncRouter(OPTIONS, configs(emulator), store=SQLiteStore(":memory:")) as router:
        router.execute(request())
        outcome = in_child(router)
    assert outcome.startswith("raised ConfigurationError: SyncRouter was opened before os.fork()")


def test_close_from_another_thread_gives_running_calls_a_typed_error(
    emulator: EmulatorServer, scenario: Scenario, tmp_path: Path
) -> None:
    scenario.add(Rule(provider="claude", latency=0.2))  # calls are in flight when it closes
    db = tmp_path / "close.db"
    router = SyncRouter(OPTIONS, configs(emulator), store=f"sqlite:///{db}")
    router.open()
    outcomes: list[str] = []
    started = threading.Barrier(9)

    def caller() -> None:
        started.wait()
        while True:
            try:
                router.execute(request())
                outcomes.append("ok")
            except ConfigurationError as exc:
                outcomes.append("closed" if "closed" in str(exc) else f"other: {exc}")
                return
            except BaseException as exc:  # CancelledError and co: the failure pinned here
                outcomes.append(f"untyped {type(exc).__module__}.{type(exc).__name__}")
                return

    threads = [threading.Thread(target=caller) for _ in range(8)]
    for t in threads:
        t.start()
    started.wait()
    while scenario.count("claude") < 8:  # every thread has a call under way
        time.sleep(0.01)
    router.close()
    for t in threads:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in threads)
    assert sorted(set(outcomes) - {"ok"}) == ["closed"], outcomes
    assert outcomes.count("closed") == 8
    assert not [t for t in threading.enumerate() if t.name == "automatosx-sync-router"]
    # Every request that entered the router has its terminal row: the cut ones CANCELLED.
    recorded = rows(db, "SELECT state, error_code FROM provider_requests")
    assert len(recorded) == outcomes.count("ok") + 8
    cut = [r for r in recorded if r["state"] != "completed"]
    assert cut == [{"state": "failed", "error_code": "CANCELLED"}] * 8, cut
