"""A burst under ``max_lag_requests`` (issue 18 item 6, issue 19 item 3): an entry the fast
path refused for back-pressure alone waits ONCE for room and is queued whole
(``enter_refused``), never past the bound; every request of the burst lands."""

from __future__ import annotations

import asyncio
from typing import Any

from store_records import T0, new_id
from tests.store.conftest import Backend

HISTORY = ["idle", "validating", "requesting"]
DONE = [*HISTORY, "completed"]
BOUND = 4
BURST = 200


def start(store: Any, rid: str) -> bool:
    messages = '[{"role":"user","content":"Hello"}]'
    args = ("claude", "claude-sonnet-4-5", messages, 100, 1.0, False, HISTORY, T0)
    ok: bool = store.request_nowait(rid, *args, None, None, None)
    return ok


def finish(store: Any, rid: str) -> bool:
    ok: bool = store.finish_request_nowait(
        rid, None, None, None, "completed", 0, DONE, None, None, T0 + 9
    )
    return ok


async def test_a_burst_waits_once_per_entry_within_the_bound(backend: Backend) -> None:
    async with backend.make(max_lag_requests=BOUND) as store:
        queue = store._queue
        most = [0]
        waits = [0]
        wait = queue._wait_for_room

        async def counted() -> bool | None:
            waits[0] += 1
            return await wait()

        queue._wait_for_room = counted

        async def one() -> None:
            rid = new_id()
            if not start(store, rid):
                assert await store.enter_refused(rid)
            most[0] = max(most[0], queue.lagging_requests)
            await asyncio.sleep(0)
            if not finish(store, rid):
                assert await store.enter_refused(rid)
            most[0] = max(most[0], queue.lagging_requests)

        rids_before = queue._enqueued
        await asyncio.gather(*(one() for _ in range(BURST)))
        await asyncio.wait_for(store.flush(), 30)
        assert most[0] <= BOUND  # the bound held through the burst
        assert 0 < waits[0] <= 2 * BURST  # back-pressure came, one wait per entry at most
        assert queue._enqueued - rids_before == 2 * BURST  # a row and ONE end each
        assert queue.lagging_requests == 0


async def test_a_refused_entry_is_only_the_one_just_refused(backend: Backend) -> None:
    async with backend.make(max_lag_requests=1) as store:
        first, second = new_id(), new_id()
        assert start(store, first)
        assert not start(store, second)  # the bound: refused, kept for enter_refused
        assert not await store.enter_refused(first)  # not the refused one: nothing queued
        assert store._queue.refused is None  # the slot is taken once, by whoever asks
        assert not await store.enter_refused(second)
        assert finish(store, first)  # a request under way goes on
        await asyncio.wait_for(store.flush(), 10)
        assert await store.get_request(second) is None
        row = await store.get_request(first)
        assert row is not None
        assert row.request.state == "completed"


async def test_a_refused_start_waits_for_room_then_lands(backend: Backend) -> None:
    async with backend.make(max_lag_requests=1) as store:
        first, second = new_id(), new_id()
        assert start(store, first)
        assert not start(store, second)
        entered = asyncio.ensure_future(store.enter_refused(second))
        await asyncio.sleep(0)
        assert not entered.done()  # it waits for room: the bound
        if not finish(store, first):  # FIFO: behind the waiting start
            assert await asyncio.wait_for(store.enter_refused(first), 10)
        assert await asyncio.wait_for(entered, 10)  # room once the first committed
        if not finish(store, second):  # the request under way: its end goes on
            assert await store.enter_refused(second)
        await asyncio.wait_for(store.flush(), 10)
        for rid in (first, second):
            row = await store.get_request(rid)
            assert row is not None
        assert row.request.state == "completed"


async def test_a_request_under_way_is_not_queued_behind_new_requests_waiting(
    backend: Backend,
) -> None:
    """A request whose row is not yet committed goes on (its end queued at once) while new
    requests wait their turn: queued behind them, a burst committed every start before any
    end, in twice the commits (the end then is a write of its own, not folded into the row)."""
    async with backend.make(max_lag_requests=2) as store:
        queue = store._queue
        lock = getattr(store._dialect, "_lock", None)
        first, second, third = new_id(), new_id(), new_id()
        if lock is not None:
            lock.acquire()  # SQLite: the writer cannot commit, the first two stay lagging
        try:
            assert start(store, first)
            assert start(store, second)
            assert not start(store, third)  # the bound: a new request waits
            entered = asyncio.ensure_future(store.enter_refused(third))
            await asyncio.sleep(0)
            if queue.lagging_requests == 2:  # nothing committed meanwhile (PostgreSQL may)
                assert not entered.done()
                assert queue._room_waiters  # a waiter is queued...
                assert finish(store, first)  # ...and a request under way goes on past it
        finally:
            if lock is not None:
                lock.release()
        assert await asyncio.wait_for(entered, 10)
        for rid in (second, third):
            if not finish(store, rid):
                assert await store.enter_refused(rid)
        await asyncio.wait_for(store.flush(), 10)
        for rid in (first, second, third):
            row = await store.get_request(rid)
            assert row is not None
            assert row.request.state == "completed"
