"""Rows a crashed process left unfinished are finalised by the next store to open the
database, and only those (issue 19 item 4), on SQLite and on one PostgreSQL shared by many
processes: each open store is an owner with a lease; a row whose owner's process is gone (or
whose lease lapsed) ends ``failed`` with error code ``INTERRUPTED`` and ``failed`` appended
to its history. Real router processes over the real SDK against the emulator, SIGKILLed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest
from crash_harness import WORKER, run_and_kill
from tests.store.conftest import Backend

from automatosx.emulator import EmulatorServer, Rule, Scenario

IN_FLIGHT = 16


@pytest.fixture(scope="module")
def slow_emulator() -> Iterator[EmulatorServer]:
    """Every answer takes 0.3 s: a router always has requests in flight."""
    with EmulatorServer(Scenario().add(Rule(provider="claude", latency=0.3))) as server:
        yield server


async def states(backend: Backend) -> dict[str, tuple[str, str | None, list[str]]]:
    async with backend.make() as store:
        rows = await store.list_requests(limit=100_000)
    return {
        row.request.id: (row.request.state, row.request.error_code, row.request.history)
        for row in rows
    }


async def test_a_sigkilled_routers_unfinished_rows_are_finalised_at_the_next_open(
    backend: Backend, slow_emulator: EmulatorServer
) -> None:
    crash = run_and_kill(
        backend.url, slow_emulator.anthropic_base_url, acks=40, in_flight=IN_FLIGHT, busy_ms=0
    )
    before = await backend.count("provider_requests")
    open_rows = await backend.scalar(
        "SELECT COUNT(*) FROM provider_requests WHERE state NOT IN ('completed', 'failed')"
    )
    assert open_rows > 0  # the crash left rows `requesting`
    async with backend.make() as store:
        assert store.interrupted == open_rows
    rows = await states(backend)
    assert len(rows) == before
    assert {state for state, _, _ in rows.values()} <= {"completed", "failed"}
    interrupted = {rid for rid, (_, code, _) in rows.items() if code == "INTERRUPTED"}
    assert len(interrupted) == open_rows
    assert interrupted <= set(crash.sent)
    # an acknowledged request whose last writes were still in the loss window reads back
    # INTERRUPTED, never `requesting`; the window is max_lag_requests (256) at most
    assert len(interrupted & set(crash.acked)) <= 256
    assert all(rows[rid][2][-1] == "failed" for rid in interrupted)
    async with backend.make() as again:  # nothing left to finalise
        assert again.interrupted == 0


async def test_a_live_processs_in_flight_rows_are_left_alone_by_anothers_open(
    backend: Backend, slow_emulator: EmulatorServer
) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    args = [backend.url, slow_emulator.anthropic_base_url, str(IN_FLIGHT), "0", "0"]
    live = subprocess.Popen(  # noqa: ASYNC220 (the test loop has nothing else to run)
        [sys.executable, str(WORKER), *args], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert live.stdout is not None
        acked = 0
        for line in live.stdout:  # running, with requests in flight and some done
            acked += line.startswith("ack ")
            if acked >= 2 * IN_FLIGHT:
                break
        async with backend.make() as other:  # another process's store opens meanwhile
            assert other.interrupted == 0
            in_flight = await backend.scalar(
                "SELECT COUNT(*) FROM provider_requests WHERE state = 'requesting'"
            )
            finalised = await backend.scalar(
                "SELECT COUNT(*) FROM provider_requests WHERE error_code = 'INTERRUPTED'"
            )
        assert in_flight > 0  # the live process had requests in flight, and kept them
        assert finalised == 0
        assert live.poll() is None
        for line in live.stdout:  # the live one's requests go on completing
            if line.startswith("ack "):
                break
    finally:
        live.send_signal(signal.SIGKILL)
        live.wait(60)
        if live.stdout is not None:
            live.stdout.close()
