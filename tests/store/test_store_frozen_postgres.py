"""A frozen PostgreSQL (every server process SIGSTOPped for 6 s: a partition with no reset
looks the same) must not hold write-behind callers past the documented bound (issue 19 item
8; the probe saw calls block 5.6 s): a caller waits ``max_wait_ms`` (1 s) at most, then its
writes and every later one are spooled to a local file and written, in order, once the
server is back. Nothing is lost: every acknowledged request ends ``completed`` in the
database and ``store_errors`` stays empty. Real router, real SDK, emulator, real server."""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from _servers import PostgresServer, create_database, start_postgres
from automatosx import Router
from automatosx.emulator import EmulatorServer, Scenario
from automatosx.schemas import ProviderConfig
from automatosx.store.postgres import PostgresStore

FREEZE_S = 6.0
BOUND_S = 1.0  # max_wait_ms
IN_FLIGHT = 16


@pytest.fixture(scope="module")
def own_postgres() -> Iterator[PostgresServer]:
    """A server of its own: freezing the session's would stall other tests' connections."""
    server = start_postgres()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorServer]:
    with EmulatorServer(Scenario()) as server:
        yield server


def server_pids(server: PostgresServer) -> list[int]:
    """The postmaster and every process it started."""
    postmaster = int((server.data_dir / "postmaster.pid").read_text().split()[0])
    pids = [postmaster]
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == postmaster:
            pids.append(int(stat.parent.name))
    return pids


def freeze(pids: list[int], seconds: float) -> None:
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        time.sleep(seconds)  # the scenario's length, not a synchronisation
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)


def spool_files(directory: Path) -> list[Path]:
    return list(directory.glob("automatosx-spool-*"))


async def test_a_frozen_server_holds_no_caller_past_the_bound_and_loses_nothing(
    own_postgres: PostgresServer, emulator: EmulatorServer, tmp_path: Path
) -> None:
    url = create_database(own_postgres)
    config = ProviderConfig.model_validate(
        {
            "name": "claude",
            "api_key": "sk-test-frozen-0123456789abcdef",
            "base_url": emulator.anthropic_base_url,
            "timeout": 30_000,
            "max_retries": 0,
            "rate_limits": {"requests_per_minute": 100_000_000},
            "models": ["claude-sonnet-4-6"],
            "default_model": "claude-sonnet-4-6",
        }
    )
    store = PostgresStore(url, max_wait_ms=BOUND_S * 1000, spool_dir=str(tmp_path))
    router = Router({"primaryProvider": "claude"}, [config], store=store)
    acked: list[str] = []
    slowest: list[float] = []
    enough = asyncio.Event()
    target = [50]
    stop = False

    async def caller() -> None:
        while not stop:
            rid = str(uuid.uuid4())
            started = time.monotonic()
            await router.execute(
                {"requestId": rid, "messages": [{"role": "user", "content": "hi"}]}
            )
            slowest.append(time.monotonic() - started)
            acked.append(rid)
            if len(acked) >= target[0]:
                enough.set()

    async with router:
        callers = [asyncio.create_task(caller()) for _ in range(IN_FLIGHT)]
        await enough.wait()  # running, rows committed
        before = len(acked)
        await asyncio.to_thread(freeze, server_pids(own_postgres), FREEZE_S)
        during = len(acked) - before
        enough.clear()
        target[0] = len(acked) + 50
        await enough.wait()  # and after the server is back
        stop = True
        await asyncio.gather(*callers)
        assert router.store_errors == []
    assert max(slowest) < BOUND_S + 1.5, f"a caller waited {max(slowest):.1f} s"
    assert during > IN_FLIGHT  # callers went on while the server was frozen
    assert store.spooled > 0
    conn = await asyncpg.connect(url)
    try:
        rows = dict(await conn.fetch("SELECT id, state FROM provider_requests"))
    finally:
        await conn.close()
    assert all(rows.get(rid) == "completed" for rid in acked), "acknowledged requests lost"
    assert not spool_files(tmp_path)  # replayed, then removed
