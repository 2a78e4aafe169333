"""Write failures are visible at once: ``router.store_errors`` names the request whose row
was lost without waiting for ``aclose()``; in write-behind mode a failed write never fails a
request the provider answered; in sync mode the caller gets ``StoreError`` and the row still
ends terminal as far as the store allows.

The store is made to fail for real: a trigger in the SQLite file aborts the insert of one
request's response (what a full disk or a constraint does to one write).
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from automatosx.errors import StoreError
from automatosx.store import SQLiteStore, open_store

if TYPE_CHECKING:
    from .conftest import Bench


async def poison_responses_of(db: Path, request_id: str) -> None:
    """Create the database, then make every insert of ``request_id``'s response fail."""
    async with open_store(f"sqlite:///{db}"):
        pass
    with closing(sqlite3.connect(db)) as conn:
        conn.execute(
            f"""CREATE TRIGGER refuse BEFORE INSERT ON provider_responses
                WHEN NEW.request_id = '{request_id}'
                BEGIN SELECT RAISE(ABORT, 'disk full (simulated)'); END"""
        )
        conn.commit()


async def test_a_lost_write_behind_row_is_in_store_errors_before_aclose(hx: Bench) -> None:
    doomed, fine = hx.request("doomed"), hx.request("fine")
    await poison_responses_of(hx.db_path, doomed["requestId"])
    store = SQLiteStore(hx.db_path)  # write-behind
    router = hx.router(store=store)
    await router.open()
    try:
        answer = await router.execute(doomed)  # the provider answered: the caller gets it
        await router.execute(fine)
        assert answer.content
        errors = router.store_errors  # may be empty: the writer had no turn yet
        with pytest.raises(StoreError, match="1 write"):
            await store.flush()  # waits for the writer; the loss was reported before
        errors = router.store_errors
        assert [(e.request_id, e.kind) for e in errors] == [(doomed["requestId"], "save_response")]
        assert "disk full" in errors[0].error
        assert router.store_errors == errors  # reading does not clear it
    finally:
        await router.aclose()  # raises nothing: flush() already raised the failure
    states = hx.states()
    assert states[doomed["requestId"]] == ("completed", None)  # the rest of its row is there
    assert states[fine["requestId"]] == ("completed", None)
    assert hx.rows("SELECT request_id FROM provider_responses") == [
        {"request_id": fine["requestId"]}
    ]


async def test_a_write_behind_store_that_refuses_writes_never_fails_an_answered_request(
    hx: Bench,
) -> None:
    store = SQLiteStore(hx.db_path)
    router = hx.router(store=store)
    await router.open()
    try:
        writes = store._usable()
        writes.accepting = False  # the writer refuses every write from now on
        writes.error = StoreError("the store's writer task stopped unexpectedly")
        answer = await router.execute(hx.request())
        assert answer.content
        lost = router.store_errors
        assert {e.kind for e in lost} == {
            "save_request",
            "save_attempt",
            "save_response",
            "update_request_state",
        }
        assert {e.request_id for e in lost} == {answer.request_id}
    finally:
        writes.accepting, writes.error = True, None
        await router.aclose()


async def test_a_sync_store_failure_raises_store_error_and_the_row_still_ends_terminal(
    hx: Bench,
) -> None:
    doomed = hx.request("doomed")
    await poison_responses_of(hx.db_path, doomed["requestId"])
    store = SQLiteStore(hx.db_path, durability="sync")
    async with hx.router(store=store) as router:
        with pytest.raises(StoreError, match="save_response failed") as caught:
            await router.execute(doomed)
        assert "disk full" in str(caught.value)
        assert [e.request_id for e in router.store_errors] == [doomed["requestId"]]
        ok = await router.execute(hx.request("next"))  # the router goes on
    assert hx.scenario.count("claude") == 2
    row = hx.rows(
        "SELECT state, history FROM provider_requests WHERE id = ?", (doomed["requestId"],)
    )
    assert row[0]["state"] == "completed"
    assert hx.states()[ok.request_id] == ("completed", None)
    attempts = hx.rows(
        "SELECT outcome FROM provider_attempts WHERE request_id = ?", (doomed["requestId"],)
    )
    assert attempts == [{"outcome": "success"}]
