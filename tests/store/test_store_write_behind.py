"""The write-behind queue under load: concurrency, back-pressure, order, flush."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from store_records import T0, attempt_record, new_id, request_record, response

from automatosx.schemas import TokenUsage
from automatosx.store import SQLiteStore


def scalar(path: Path, sql: str) -> tuple[int | float, ...]:
    with sqlite3.connect(path) as conn:
        row = tuple(conn.execute(sql).fetchone())
    conn.close()
    return row


async def test_ten_thousand_records_from_many_tasks_all_arrive(db_path: Path) -> None:
    tasks, per_task = 50, 40  # 2,000 requests x 5 records = 10,000 records
    store = SQLiteStore(db_path, queue_size=1_000, batch_size=256)
    await store.open()

    async def one_request(i: int) -> None:
        rid = new_id()
        at = T0 + i
        await store.save_request(request_record(rid, created_at=at, updated_at=at))
        await store.save_attempt(attempt_record(rid, 1, outcome="failure", duration=3))
        await asyncio.sleep(0)  # interleave with the other tasks
        await store.save_attempt(attempt_record(rid, 2, duration=5))
        await store.save_response(
            response(
                rid, tokens=TokenUsage(input_tokens=2, output_tokens=3, total_tokens=5), cost=0.5
            )
        )
        await store.update_request_state(
            rid,
            state="completed",
            retry_count=1,
            history=["idle", "validating", "requesting", "completed"],
            updated_at=at + 1,
        )

    async def worker(w: int) -> None:
        for j in range(per_task):
            await one_request(w * per_task + j)

    await asyncio.gather(*(worker(w) for w in range(tasks)))
    await store.close()

    n = tasks * per_task
    assert scalar(db_path, "SELECT COUNT(*) FROM provider_requests") == (n,)
    assert scalar(db_path, "SELECT COUNT(*) FROM provider_attempts") == (2 * n,)
    assert scalar(db_path, "SELECT COUNT(*) FROM provider_responses") == (n,)
    assert scalar(db_path, "SELECT COUNT(*) FROM provider_requests WHERE state = 'completed'") == (
        n,
    )
    assert scalar(
        db_path,
        "SELECT SUM(request_count), SUM(success_count), SUM(failure_count),"
        " SUM(total_tokens), SUM(total_cost), SUM(total_duration) FROM provider_metrics",
    ) == (2 * n, n, n, 5 * n, 0.5 * n, 8 * n)


async def test_full_queue_makes_writers_wait_and_drops_nothing(db_path: Path) -> None:
    store = SQLiteStore(db_path, queue_size=4, batch_size=2)
    await store.open()
    assert store._queue is not None
    writes = store._queue
    try:
        ids = [new_id() for _ in range(200)]
        waited = 0

        async def writer(chunk: list[str]) -> None:
            nonlocal waited
            for rid in chunk:
                if writes.queued >= 4:
                    waited += 1
                await store.save_request(request_record(rid))
                assert writes.queued <= 4

        await asyncio.gather(*(writer(ids[i::8]) for i in range(8)))
        assert waited > 0  # back-pressure happened
        await store.flush()
        rows = await store.list_requests(limit=1_000)
        assert sorted(row.request.id for row in rows) == sorted(ids)
    finally:
        await store.close()


async def test_close_while_writers_wait_for_space_writes_their_records(db_path: Path) -> None:
    store = SQLiteStore(db_path, queue_size=2, batch_size=1)
    await store.open()
    ids = [new_id() for _ in range(20)]
    writers = [asyncio.create_task(store.save_request(request_record(rid))) for rid in ids]
    await asyncio.sleep(0)  # every writer has enqueued or is waiting for space
    await store.close()
    await asyncio.gather(*writers)
    assert scalar(db_path, "SELECT COUNT(*) FROM provider_requests") == (20,)


async def test_writes_keep_their_order(store: SQLiteStore) -> None:
    rid = new_id()
    await store.save_request(request_record(rid))
    for retry in range(1, 50):
        await store.update_request_state(
            rid,
            state="retrying",
            retry_count=retry,
            history=["retrying"] * retry,
            updated_at=T0 + retry,
        )
    row = await store.get_request(rid)
    assert row is not None
    assert (row.request.retry_count, row.request.updated_at) == (49, T0 + 49)


async def test_flush_waits_for_writes_made_by_other_tasks(
    db_path: Path, store: SQLiteStore
) -> None:
    ids = [new_id() for _ in range(100)]
    await asyncio.gather(*(store.save_request(request_record(rid)) for rid in ids))
    await store.flush()
    assert scalar(db_path, "SELECT COUNT(*) FROM provider_requests") == (100,)


async def test_stream_chunks_are_written_as_one_record(store: SQLiteStore) -> None:
    rid = new_id()
    await store.save_request(request_record(rid, stream=True))
    chunks = [(i, f"tok{i}", T0 + i) for i in range(1_000)]
    await store.save_stream_chunks(rid, chunks)
    await store.save_stream_chunks(rid, [])  # nothing to write
    row = await store.get_request(rid)
    assert row is not None
    assert row.chunks == chunks
