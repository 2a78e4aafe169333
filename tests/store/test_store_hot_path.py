"""The write-behind fast path the router records through (``store/_fast.py``): a request is
two queued entries (its row; its end as ONE ``COMPOSITE`` entry of plain tuples) queued
without a coroutine; the writer thread takes the end apart, so each part is still written,
counted, settled and reported as its own write; the fast path declines (the recorder then
awaits the ``save_*`` calls) whenever a write could not be queued at once, and a request's
end is never spooled as a composite."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from store_records import T0, attempt_record, new_id, response
from tests.store.conftest import Backend

from automatosx import Router
from automatosx.emulator import EmulatorServer, Scenario
from automatosx.errors import StoreError
from automatosx.store import SQLiteStore
from automatosx.store._rows import attempt_row

HISTORY = ["idle", "validating", "requesting"]
DONE = [*HISTORY, "completed"]
GPT = "gpt-4o"


def start(store: Any, rid: str, metadata: dict[str, Any] | None = None) -> bool:
    messages = '[{"role":"user","content":"Hello"}]'
    args = ("claude", "claude-sonnet-4-5", messages, 100, 1.0, False, HISTORY, T0)
    ok: bool = store.request_nowait(rid, *args, metadata, "acme", "u-1")
    return ok


def finish(store: Any, rid: str, **parts: Any) -> bool:
    end = ("completed", 1, DONE, None, None, T0 + 9)
    ok: bool = store.finish_request_nowait(
        rid, parts.get("attempt"), parts.get("response"), parts.get("chunks"), *end
    )
    return ok


async def test_a_request_is_two_queued_entries_and_every_part_lands(backend: Backend) -> None:
    rid = new_id()
    async with backend.make() as store:
        queue = store._queue
        wake, woken = queue._wake, []  # each queued entry wakes the writer once
        queue._wake = lambda: (woken.append(1), wake())[1]
        assert start(store, rid, metadata={"k": "é"})
        chunks = [(0, "Hi ", T0 + 1), (1, "there", T0 + 2)]
        attempt = attempt_row(attempt_record(rid))
        assert finish(store, rid, attempt=attempt, response=response(rid), chunks=chunks)
        assert len(woken) == 2  # not one entry per write
        assert queue._enqueued == 5  # the request's row, then its end's 4 writes
        assert queue.lagging_requests == 1  # one request, however many writes
        await asyncio.wait_for(store.flush(), 10)  # each of the 4 parts settled
        assert queue.lagging_requests == 0
        row = await store.get_request(rid)
    assert row is not None
    request = row.request
    assert (request.state, request.retry_count, request.history) == ("completed", 1, DONE)
    assert (request.metadata, request.tenant, request.user) == ({"k": "é"}, "acme", "u-1")
    assert (request.created_at, request.updated_at) == (T0, T0 + 9)
    assert row.attempts == [attempt_record(rid)]
    assert row.response == response(rid)
    assert row.chunks == chunks
    assert store.write_errors == 0


async def test_a_poisoned_part_of_a_request_end_loses_only_that_part(backend: Backend) -> None:
    rid = new_id()
    async with backend.make() as store:
        assert start(store, rid)
        bad = response(rid, content="secret\ud800text")  # a lone surrogate: no store takes it
        assert finish(store, rid, attempt=attempt_row(attempt_record(rid)), response=bad)
        with pytest.raises(StoreError, match="save_response failed: "):
            await asyncio.wait_for(store.flush(), 10)
        assert [(f.request_id, f.kind) for f in store.drain_write_errors()] == [
            (rid, "save_response")
        ]
        row = await store.get_request(rid)
    assert row is not None
    assert row.request.state == "completed"  # the rest of the request's end is there
    assert len(row.attempts) == 1
    assert row.response is None


async def test_the_fast_path_declines_where_it_cannot_queue_at_once(db_path: Path) -> None:
    rid = new_id()
    assert not start(SQLiteStore(db_path), rid)  # unopened: the caller awaits instead
    async with SQLiteStore(db_path, durability="sync") as sync:  # sync waits for the commit
        assert not start(sync, rid)
        assert not finish(sync, rid)
    async with SQLiteStore(db_path) as store:
        store._queue.accepting = False  # closing
        assert not store.attempt_nowait(attempt_row(attempt_record(rid)))
        assert not finish(store, rid)
        store._queue.accepting = True
        # metadata JSON cannot encode: declined, so save_request leaves it out AND reports it
        assert not start(store, rid, metadata={1: object(), "a": {2, 3}, (1,): 1})
        assert store.write_errors == 0


async def test_max_lag_requests_counts_a_request_once_and_the_fast_path_declines_past_it(
    db_path: Path,
) -> None:
    first, second = new_id(), new_id()
    async with SQLiteStore(db_path, max_lag_requests=1) as store:
        lock = store._dialect._lock
        lock.acquire()  # the writer cannot commit: `first` stays lagging
        try:
            assert start(store, first)
            assert not start(store, second)  # a new request waits (the awaited save_request)
            assert finish(store, first, response=response(first))  # one already lagging goes on
            assert store._queue.lagging_requests == 1
        finally:
            lock.release()
        await asyncio.wait_for(store.flush(), 10)
        assert start(store, second)
        await asyncio.wait_for(store.flush(), 10)
        row = await store.get_request(first)
    assert row is not None
    assert (row.request.state, row.response is not None) == ("completed", True)


def openai(base_url: str) -> dict[str, Any]:
    return {
        "name": "openai",
        "id": "openai",
        "apiKey": "sk-test-hot-path-0123456789abcdef",
        "baseUrl": base_url,
        "timeout": 5_000,
        "maxRetries": 0,
        "rateLimits": {"requestsPerMinute": 1_000_000},
        "models": [GPT],
        "defaultModel": GPT,
    }


async def test_a_stalled_writer_spools_each_write_of_routed_requests_never_a_composite(
    tmp_path: Path,
) -> None:
    """The writer is stuck (its SQLite lock held): requests queued before the stall go as
    composite entries, those after it are spooled write by write (their own labels, so a
    dead process's spool replays); once the lock is free every request is whole."""
    store = SQLiteStore(
        tmp_path / "s.db", max_lag_requests=1, max_wait_ms=50, spool_dir=str(tmp_path / "spool")
    )
    (tmp_path / "spool").mkdir()
    request = {"messages": [{"role": "user", "content": "Hello"}]}
    with EmulatorServer(Scenario()) as server:
        router = Router(
            {"primaryProvider": "openai"}, [openai(server.openai_base_url)], store=store
        )
        async with router:
            lock = store._dialect._lock
            lock.acquire()
            try:
                ids = [(await router.execute(request)).request_id]  # queued, then stuck
                for _ in range(3):  # past max_lag_requests: wait max_wait_ms, then spool
                    ids.append((await router.execute(request)).request_id)
                chunks = [c async for c in router.stream(request)]
                assert store.spooled > 0
                assert store._spool is not None
                text = await asyncio.to_thread(Path(store._spool.path).read_text, "utf-8")
                labels = {json.loads(line)[0] for line in text.splitlines()}
                assert "finish_request" not in labels
                assert {"save_request", "save_response", "update_request_state"} <= labels
            finally:
                lock.release()
            await asyncio.wait_for(store.flush(), 10)
            rows = [await store.get_request(rid) for rid in ids]
            assert store.write_errors == 0
    assert chunks
    for row in rows:
        assert row is not None
        assert row.request.state == "completed"
        assert [a.outcome for a in row.attempts] == ["success"]
        assert row.response is not None
