"""The loss window in write-behind mode: bounded lag, back-pressure that waits (never drops),
batches sized to the commit interval; and a store never closed does not hang the exit."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from store_records import new_id, request_record
from tests.store.conftest import Backend

import automatosx.store._batch_writer as batch_writer_module
import automatosx.store._queue as queue_module
from automatosx.errors import ConfigurationError
from automatosx.store import SQLiteStore


class FakeClock:
    """Stands in for the queue's and the writer's ``time``: monotonic time moves when told."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def monotonic(self) -> float:
        return self.now

    def time_ns(self) -> int:
        return time.time_ns()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(queue_module, "time", fake)
    monkeypatch.setattr(batch_writer_module, "time", fake)
    return fake


class Gate:
    """Holds every batch in the writer thread until opened: a stalled writer (a slow disk).
    ``entered`` is set when the writer is inside a batch."""

    def __init__(self) -> None:
        self.opened = threading.Event()
        self.entered = threading.Event()

    def set(self) -> None:
        self.opened.set()

    async def writer_inside(self) -> None:
        assert await asyncio.to_thread(self.entered.wait, 10)


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch, backend: Backend) -> Gate:
    held = Gate()
    dialect = type(backend.make()._dialect)
    real = dialect.write

    async def gated(self: Any, *args: Any) -> None:
        held.entered.set()
        held.opened.wait(30)
        await real(self, *args)

    monkeypatch.setattr(dialect, "write", gated)
    return held


def rows(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        (count,) = conn.execute("SELECT COUNT(*) FROM provider_requests").fetchone()
    conn.close()
    return int(count)


async def test_callers_wait_while_the_lag_exceeds_max_lag_then_all_rows_land(
    backend: Backend, clock: FakeClock, gate: Gate
) -> None:
    store = backend.make(max_lag_ms=500, queue_size=10_000)
    await store.open()
    writes = store._queue
    assert writes is not None
    await store.save_request(request_record(new_id()))
    await gate.writer_inside()  # the writer took it and is stuck in the transaction
    clock.now += 0.2
    assert store.write_lag_ms() == pytest.approx(200)
    await store.save_request(request_record(new_id()))  # lag 200 ms < 500: no wait
    clock.now += 0.4  # the oldest write is now 600 ms old
    late = asyncio.create_task(store.save_request(request_record(new_id())))
    for _ in range(20):
        await asyncio.sleep(0)
    assert writes._blocked_puts == 1
    gate.set()
    await late
    await store.close()
    assert store.write_lag_ms() == 0.0
    assert await backend.count("provider_requests") == 3


async def test_a_slow_transaction_halves_the_batch_and_fast_ones_grow_it_back(
    backend: Backend, clock: FakeClock, gate: Gate
) -> None:
    store = backend.make(batch_size=64, commit_interval_ms=100, max_lag_ms=10_000)
    await store.open()
    writes = store._writer
    assert writes is not None
    await store.save_request(request_record(new_id()))
    await gate.writer_inside()
    clock.now += 0.3  # this transaction "took" 300 ms
    gate.set()
    await store.flush()
    assert writes._batch_limit == 32
    for _ in range(3):  # fast transactions: doubled back, capped at batch_size
        await store.save_request(request_record(new_id()))
        await store.flush()
    assert writes._batch_limit == 64
    await store.close()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"commit_interval_ms": 0}, "commit_interval_ms must be a positive number"),
        ({"max_lag_ms": -5}, "max_lag_ms must be a positive number"),
        ({"on_write_error": "log"}, "on_write_error must be a callable"),
    ],
)
def test_bad_loss_window_options_are_configuration_errors(
    kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        SQLiteStore(":memory:", **kwargs)


async def test_many_concurrent_writers_keep_every_row(db_path: Path) -> None:
    store = SQLiteStore(db_path, max_lag_ms=5, queue_size=64, batch_size=16)
    await store.open()
    ids = [new_id() for _ in range(400)]

    async def writer(chunk: list[str]) -> None:
        for rid in chunk:
            await store.save_request(request_record(rid))

    await asyncio.gather(*(writer(ids[i::20]) for i in range(20)))
    await store.close()
    assert rows(db_path) == 400


EXIT_SCRIPT = """
import asyncio, sys, uuid
sys.path.insert(0, {tests!r})
from store_records import request_record
from automatosx.store import SQLiteStore

async def main():
    store = SQLiteStore({db!r})
    await store.open()
    for _ in range(50):
        await store.save_request(request_record(str(uuid.uuid4())))
    {ending}

{runner}
"""


@pytest.mark.parametrize(
    ("ending", "runner", "flushed"),
    [
        # asyncio.run cancels the writer: it writes what is queued, then lets go
        ("", "asyncio.run(main())", 50),
        # the loop is left without cancelling anything: nothing keeps the process alive
        (
            "",
            "loop = asyncio.new_event_loop(); loop.run_until_complete(main())",
            None,
        ),
    ],
    ids=["asyncio-run", "loop-abandoned"],
)
def test_a_store_never_closed_does_not_hang_the_interpreter(
    tmp_path: Path, ending: str, runner: str, flushed: int | None
) -> None:
    db = tmp_path / "exit.db"
    script = EXIT_SCRIPT.format(
        tests=str(Path(__file__).parent), db=str(db), ending=ending, runner=runner
    )
    result = subprocess.run(
        [sys.executable, "-W", "always::ResourceWarning", "-c", textwrap.dedent(script)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    if flushed is not None:
        assert "never closed" in result.stderr
        assert rows(db) == flushed
