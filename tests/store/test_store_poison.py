"""The write path isolates poison, on every backend: one bad write is dropped and reported at
once; the rest of its batch is kept; odd values never raise on the caller's path."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest
from store_records import attempt_record, new_id, request_record, response
from tests.store.conftest import Backend

from automatosx.errors import StoreError
from automatosx.store import SQLiteStore, WriteFailure

SURROGATE = "secret\ud800text"


async def test_a_lone_surrogate_loses_only_its_own_write_and_is_reported(
    backend: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[WriteFailure] = []
    good, bad = new_id(), new_id()
    async with backend.make(on_write_error=seen.append) as store:
        # one batch: the writer has not run between these saves
        await store.save_request(request_record(good))
        await store.save_request(request_record(bad))
        await store.save_response(response(bad, content=SURROGATE))
        await store.save_attempt(attempt_record(good))
        await store.save_response(response(good))
        with (
            caplog.at_level(logging.ERROR, logger="automatosx.store"),
            pytest.raises(StoreError, match="save_response failed: "),
        ):
            await store.flush()
        kept_good = await store.get_request(good)
        kept_bad = await store.get_request(bad)
        assert store.write_errors == 1
        drained = store.drain_write_errors()
        assert store.drain_write_errors() == []
    assert kept_good is not None
    assert kept_good.response is not None
    assert len(kept_good.attempts) == 1
    assert kept_bad is not None
    assert kept_bad.response is None
    assert seen == drained
    [failure] = drained
    assert (failure.request_id, failure.kind) == (bad, "save_response")
    assert "secret" not in failure.error
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert bad in record.getMessage()
    assert "secret" not in record.getMessage()


async def test_a_failure_is_reported_before_any_flush_or_close(backend: Backend) -> None:
    reported = asyncio.Event()
    failures: list[WriteFailure] = []

    def on_error(failure: WriteFailure) -> None:
        failures.append(failure)
        reported.set()

    store = backend.make(on_write_error=on_error)
    await store.open()
    try:
        orphan = new_id()
        await store.save_attempt(attempt_record(orphan))  # no such request
        await asyncio.wait_for(reported.wait(), timeout=30)
        assert [(f.request_id, f.kind) for f in failures] == [(orphan, "save_attempt")]
        assert store.write_errors == 1
    finally:
        with pytest.raises(StoreError, match=r"(?i)foreign key"):
            await store.close()


def circular() -> dict[str, Any]:
    value: dict[str, Any] = {}
    value["self"] = value
    return value


def deep() -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(100_000):
        value = {"x": value}
    return value


@pytest.mark.parametrize(
    ("metadata", "error"),
    [
        (circular(), "ValueError"),
        (deep(), "RecursionError"),
        ({("tuple", "key"): 1}, "TypeError"),
    ],
    ids=["circular", "deep", "tuple-key"],
)
async def test_metadata_that_cannot_be_serialized_is_left_out_and_reported(
    any_store: Any, metadata: dict[str, Any], error: str
) -> None:
    store = any_store
    rid = new_id()
    await store.save_request(request_record(rid, metadata=metadata))  # does not raise
    await store.save_response(response(rid, metadata=None))
    await store.flush()
    row = await store.get_request(rid)
    assert row is not None
    assert row.request.metadata is None
    assert row.response is not None
    [failure] = store.drain_write_errors()
    assert (failure.request_id, failure.kind) == (rid, "save_request.metadata")
    assert failure.error.startswith(error)


async def test_messages_whose_text_cannot_be_made_are_left_out_and_reported(
    any_store: Any,
) -> None:
    store = any_store

    class Broken:
        def __str__(self) -> str:
            raise RecursionError("maximum recursion depth exceeded")

    rid = new_id()
    await store.save_request(request_record(rid, messages=Broken()))
    await store.flush()
    row = await store.get_request(rid)
    assert row is not None
    assert row.request.messages == "null"
    assert [f.kind for f in store.drain_write_errors()] == ["save_request.messages"]


async def test_a_sync_save_of_poison_raises_to_its_caller_and_is_counted(
    backend: Backend,
) -> None:
    async with backend.make(durability="sync") as store:
        rid = new_id()
        await store.save_request(request_record(rid))
        with pytest.raises(StoreError, match="save_response failed: "):
            await store.save_response(response(rid, content=SURROGATE))
        await store.save_response(response(rid))  # the writer lives on
        assert store.write_errors == 1
        row = await store.get_request(rid)
    assert row is not None
    assert row.response is not None


async def test_a_raising_callback_does_not_stop_the_writer(
    db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def explode(failure: WriteFailure) -> None:
        raise RuntimeError("callback bug")

    async with SQLiteStore(db_path, on_write_error=explode) as store:
        await store.save_attempt(attempt_record(new_id()))
        with caplog.at_level(logging.ERROR, logger="automatosx.store"), pytest.raises(StoreError):
            await store.flush()
        rid = new_id()
        await store.save_request(request_record(rid))
        assert await store.get_request(rid) is not None
    assert any("on_write_error callback raised" in r.getMessage() for r in caplog.records)


async def test_disk_full_in_write_behind_is_reported_at_once(db_path: Path) -> None:
    reported = asyncio.Event()
    failures: list[WriteFailure] = []

    def on_error(failure: WriteFailure) -> None:
        failures.append(failure)
        reported.set()

    store = SQLiteStore(db_path, on_write_error=on_error)
    await store.open()
    conn = store._dialect._conn  # type: ignore[attr-defined]
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {int(pages) + 2}")
    big = "x" * 20_000
    for _ in range(20):
        await store.save_request(request_record(new_id(), messages=big))
    await asyncio.wait_for(reported.wait(), timeout=30)
    assert failures[0].kind == "save_request"
    assert "full" in failures[0].error
    with pytest.raises(StoreError, match="full"):
        await store.close()
