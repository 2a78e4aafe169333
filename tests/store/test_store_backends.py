"""Every SQL backend, one suite: round trips, lifecycle, durability, failures and the engine's
batches, run against SQLite and a real PostgreSQL with the same records and expectations."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from store_records import T0, attempt_record, new_id, request_record, response
from tests.store.conftest import Backend

import automatosx.store._batch_writer as batch_writer_module
from automatosx.errors import StoreError
from automatosx.schemas import ProviderHealth
from automatosx.store import RecordSink, Store, StoreReader, StoreState

# -- round trips --------------------------------------------------------------------------


async def test_request_round_trips_with_its_tenant_and_user(any_store: Any) -> None:
    record = request_record(
        stream=True, max_tokens=None, metadata={"user": "u-1", "tags": ["a", "é"]}
    )
    record.tenant, record.user = "acme", "user-7"
    await any_store.save_request(record)
    row = await any_store.get_request(record.id)
    assert row is not None
    assert row.request == record
    assert (row.attempts, row.response, row.chunk_count, row.chunks) == ([], None, 0, [])


async def test_request_with_message_digest_round_trips(any_store: Any) -> None:
    record = request_record(messages="sha256:" + "ab" * 32)
    await any_store.save_request(record)
    row = await any_store.get_request(record.id)
    assert row is not None
    assert row.request.messages == "sha256:" + "ab" * 32
    assert (row.request.tenant, row.request.user) == (None, None)


async def test_lazy_messages_are_written_as_their_text(any_store: Any) -> None:
    class Lazy:  # only __str__: nothing driver-specific
        def __str__(self) -> str:
            return '[{"role":"user","content":"lazy"}]'

    rid = new_id()
    await any_store.save_request(request_record(rid, messages=Lazy()))
    await any_store.save_request(request_record(messages=Lazy()))  # two rows: the batch form
    row = await any_store.get_request(rid)
    assert row is not None
    assert row.request.messages == '[{"role":"user","content":"lazy"}]'


async def test_state_update_replaces_state_and_keeps_the_requested_provider(
    any_store: Any,
) -> None:
    record = request_record()
    await any_store.save_request(record)
    history = ["idle", "validating", "requesting", "failed"]
    await any_store.update_request_state(
        record.id,
        state="failed",
        retry_count=2,
        history=history,
        error="boom",
        error_code="SERVER_ERROR",
        updated_at=T0 + 5,
    )
    row = await any_store.get_request(record.id)
    assert row is not None
    assert (row.request.state, row.request.retry_count, row.request.history) == (
        "failed",
        2,
        history,
    )
    assert (row.request.error, row.request.error_code, row.request.updated_at) == (
        "boom",
        "SERVER_ERROR",
        T0 + 5,
    )
    await any_store.update_request_state(
        record.id, state="requesting", retry_count=0, history=[*history, "x"], updated_at=T0 + 6
    )
    row = await any_store.get_request(record.id)
    assert row is not None
    assert (row.request.provider, row.request.model) == ("claude", "claude-sonnet-4-5")
    assert (row.request.error, row.request.error_code) == (None, None)


async def test_attempts_response_and_chunks_round_trip(any_store: Any) -> None:
    rid = new_id()
    await any_store.save_request(request_record(rid, stream=True))
    failed = attempt_record(
        rid, 1, outcome="failure", error_code="OVERLOADED", error="overloaded", status_code=529
    )
    succeeded = attempt_record(rid, 2, provider="openai", model="gpt-4o-mini")
    await any_store.save_attempt(failed)
    await any_store.save_attempt(succeeded)
    reply = response(rid, provider="openai", model="gpt-4o-mini", metadata={"id": "x"})
    await any_store.save_response(reply)
    chunks = [(0, "Hi", T0 + 10), (1, " there", T0 + 11)]
    await any_store.save_stream_chunks(rid, chunks)

    row = await any_store.get_request(rid)
    assert row is not None
    assert row.attempts == [failed, succeeded]
    assert row.response == reply
    assert (row.chunk_count, row.chunks) == (2, chunks)


async def test_response_without_optionals_round_trips(any_store: Any) -> None:
    rid = new_id()
    await any_store.save_request(request_record(rid))
    reply = response(rid, finish_reason=None, cost=None)
    await any_store.save_response(reply)
    row = await any_store.get_request(rid)
    assert row is not None
    assert row.response == reply


async def test_health_checks_round_trip_newest_first(any_store: Any) -> None:
    checks = [
        ProviderHealth(provider="claude", status="healthy", latency=12.5, last_checked=T0),
        ProviderHealth(
            provider="openai",
            status="degraded",
            latency=900.0,
            rate_limit_remaining=3,
            rate_limit_reset=T0 + 60_000,
            last_checked=T0 + 1,
        ),
        ProviderHealth(provider="claude", status="down", error="HTTP 401", last_checked=T0 + 2),
    ]
    for check in checks:
        await any_store.save_health_check(check)
    assert await any_store.get_provider_health() == checks[::-1]
    assert await any_store.get_provider_health("claude") == [checks[2], checks[0]]
    assert await any_store.get_provider_health(limit=1) == [checks[2]]


async def test_list_requests_filters_pages_and_loads_children(any_store: Any) -> None:
    ids = [new_id() for _ in range(5)]
    for i, rid in enumerate(ids):
        state = "completed" if i % 2 == 0 else "failed"
        provider = "claude" if i < 3 else "gemini"
        await any_store.save_request(
            request_record(rid, state=state, provider=provider, created_at=T0 + i)
        )
        await any_store.save_attempt(attempt_record(rid, provider=provider))
    await any_store.save_stream_chunks(ids[4], [(0, "a", T0), (1, "b", T0)])
    await any_store.save_response(response(ids[4], provider="gemini"))

    assert [row.request.id for row in await any_store.list_requests()] == ids[::-1]
    completed = await any_store.list_requests(state="completed")
    assert [row.request.id for row in completed] == [ids[4], ids[2], ids[0]]
    gemini_failed = await any_store.list_requests(state="failed", provider="gemini")
    assert [row.request.id for row in gemini_failed] == [ids[3]]
    page = await any_store.list_requests(limit=2, offset=1)
    assert [row.request.id for row in page] == [ids[3], ids[2]]
    assert [len(row.attempts) for row in page] == [1, 1]

    first = (await any_store.list_requests(limit=1))[0]
    assert len(first.attempts) == 1
    assert first.response is not None
    assert (first.chunk_count, first.chunks) == (2, None)


async def test_missing_request_is_none(any_store: Any) -> None:
    assert await any_store.get_request(new_id()) is None


async def test_unknown_provider_names_are_accepted(any_store: Any) -> None:
    rid = new_id()
    await any_store.save_request(request_record(rid, provider="mistral"))
    await any_store.save_attempt(attempt_record(rid, provider="mistral"))
    [metrics] = await any_store.get_provider_metrics()
    assert (metrics.provider, metrics.request_count) == ("mistral", 1)


# -- lifecycle ----------------------------------------------------------------------------


async def test_lifecycle_is_unopened_opened_closed(backend: Backend) -> None:
    store = backend.make()
    assert isinstance(store, Store)
    assert isinstance(store, RecordSink)
    assert isinstance(store, StoreReader)
    seen = [store.state]
    await store.open()
    seen.append(store.state)
    await store.close()
    seen.append(store.state)
    await store.close()  # idempotent
    seen.append(store.state)
    assert seen == [StoreState.UNOPENED, StoreState.OPENED, StoreState.CLOSED, StoreState.CLOSED]


async def test_unopened_store_says_how_to_open_it(backend: Backend) -> None:
    store = backend.make()
    with pytest.raises(StoreError, match=r"not open: call `await store.open\(\)`"):
        await store.save_request(request_record())
    with pytest.raises(StoreError, match="not open"):
        await store.get_request(new_id())
    await store.close()


async def test_closed_store_refuses_writes_reads_and_reopening(backend: Backend) -> None:
    store = backend.make()
    await store.open()
    await store.close()
    with pytest.raises(StoreError, match="the store is closed"):
        await store.save_attempt(attempt_record(new_id()))
    with pytest.raises(StoreError, match="the store is closed"):
        await store.list_requests()
    with pytest.raises(StoreError, match="the store is closed"):
        await store.flush()
    with pytest.raises(StoreError, match="cannot be reopened"):
        await store.open()


async def test_opening_twice_is_an_error(any_store: Any) -> None:
    with pytest.raises(StoreError, match="already open"):
        await any_store.open()


async def test_reopen_keeps_data_and_does_not_reapply_migrations(backend: Backend) -> None:
    rid = new_id()
    async with backend.make() as store:
        await store.save_request(request_record(rid))
        await store.save_attempt(attempt_record(rid))
    applied = "SELECT COUNT(*) || ':' || MAX(applied_at) FROM schema_migrations"
    before = await backend.scalar(applied)
    async with backend.make() as store:
        row = await store.get_request(rid)
        assert row is not None
        assert len(row.attempts) == 1
    assert await backend.scalar(applied) == before


# -- durability ---------------------------------------------------------------------------


async def test_write_behind_saves_are_committed_by_flush(backend: Backend, any_store: Any) -> None:
    await any_store.save_request(request_record())
    await any_store.flush()
    assert await backend.count("provider_requests") == 1


async def test_sync_save_is_visible_from_another_connection_at_once(backend: Backend) -> None:
    async with backend.make(durability="sync") as store:
        rid = new_id()
        await store.save_request(request_record(rid))
        assert await backend.count("provider_requests") == 1
        await store.save_attempt(attempt_record(rid))
        assert await backend.count("provider_attempts") == 1


async def test_close_writes_everything_queued_past_a_full_queue(backend: Backend) -> None:
    store = backend.make(queue_size=16, batch_size=8)
    await store.open()

    async def save(rid: str) -> None:
        await store.save_request(request_record(rid))

    # 300 concurrent savers against a queue of 16: most wait for space, none is dropped.
    await asyncio.gather(*(save(new_id()) for _ in range(300)))
    await store.close()
    assert await backend.count("provider_requests") == 300


# -- failures -----------------------------------------------------------------------------


async def test_failed_row_is_reported_by_flush_and_the_rest_of_its_batch_is_kept(
    any_store: Any,
) -> None:
    good = new_id()
    await any_store.save_request(request_record(good))
    await any_store.save_attempt(attempt_record(new_id()))  # no such request: FK violation
    await any_store.save_attempt(attempt_record(good))
    with pytest.raises(
        StoreError, match=r"(?i)1 write\(s\) failed.*save_attempt failed: .*foreign key"
    ):
        await any_store.flush()
    await any_store.flush()  # reported once
    row = await any_store.get_request(good)
    assert row is not None
    assert len(row.attempts) == 1


async def test_failed_row_is_reported_by_close(backend: Backend) -> None:
    store = backend.make()
    await store.open()
    rid = new_id()
    await store.save_request(request_record(rid))
    await store.save_request(request_record(rid))  # duplicate primary key
    with pytest.raises(StoreError, match=r"(?i)save_request failed: \w+: (unique|duplicate)"):
        await store.close()
    assert store.state is StoreState.CLOSED
    assert await backend.count("provider_requests") == 1


async def test_sync_save_raises_its_own_failure(backend: Backend) -> None:
    async with backend.make(durability="sync") as store:
        with pytest.raises(StoreError, match=r"(?i)save_attempt failed: .*foreign key"):
            await store.save_attempt(attempt_record(new_id()))
        rid = new_id()
        await store.save_request(request_record(rid))  # the writer lives on
        await store.flush()


async def test_check_constraints_reject_an_unknown_state_and_temperature(any_store: Any) -> None:
    await any_store.save_request(request_record(state="sleeping"))
    await any_store.save_request(request_record(temperature=3.0))
    with pytest.raises(StoreError, match=r"(?i)2 write\(s\) failed.*check constraint"):
        await any_store.flush()


async def test_batch_lost_to_a_failing_connection_is_reported_and_the_writer_lives_on(
    any_store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    dialect = type(any_store._dialect)
    real_write, real_replay = dialect.write, dialect.replay

    async def fail_write(self: Any, *args: Any) -> None:
        monkeypatch.setattr(dialect, "write", real_write)
        raise RuntimeError("disk on fire")

    async def fail_replay(self: Any, *args: Any) -> None:
        monkeypatch.setattr(dialect, "replay", real_replay)
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(dialect, "write", fail_write)
    monkeypatch.setattr(dialect, "replay", fail_replay)
    await any_store.save_request(request_record())
    with pytest.raises(StoreError, match="save_request failed: RuntimeError: disk on fire"):
        await any_store.flush()
    assert any_store.write_errors == 1
    [failure] = any_store.drain_write_errors()
    assert (failure.kind, failure.error) == ("save_request", "RuntimeError: disk on fire")
    rid = new_id()
    await any_store.save_request(request_record(rid))
    assert await any_store.get_request(rid) is not None


async def test_stopped_writer_fails_saves_flush_and_close_loudly(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = backend.make()
    await store.open()

    def broken(*args: Any) -> Any:
        raise RuntimeError("a bug in the writer")

    monkeypatch.setattr(batch_writer_module, "_grouped", broken)
    await store.save_request(request_record())
    with pytest.raises(StoreError, match="writer thread stopped unexpectedly"):
        await store.flush()
    with pytest.raises(StoreError, match="writer thread stopped unexpectedly"):
        await store.save_request(request_record())
    with pytest.raises(StoreError, match="writer thread stopped unexpectedly"):
        await store.close()
    assert store.state is StoreState.CLOSED


# -- the engine's batches -----------------------------------------------------------------


async def test_a_batch_runs_each_write_once_and_folds_the_last_update_into_the_insert(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Interleaved saves of many requests land in one batch as one write per kind, request
    rows first (no foreign key breaks); each id's last state update is folded into its
    insert row when both are in the batch, so only the first request's update is sent."""
    one_lane = {"writers": 1} if backend.name == "postgresql" else {}
    store = backend.make(batch_size=4096, max_lag_requests=1_000, **one_lane)
    dialect = type(store._dialect)
    real = dialect.write
    sent: list[list[tuple[str, int]]] = []
    entered, release = threading.Event(), threading.Event()

    async def recording(self: Any, conn: Any, groups: Any) -> None:
        sent.append([(write.label, len(rows)) for write, rows in groups])
        if len(sent) == 1:  # hold the first batch until every other save is queued
            entered.set()
            release.wait(10)
        await real(self, conn, groups)

    monkeypatch.setattr(dialect, "write", recording)
    await store.open()
    ids = [new_id() for _ in range(50)]
    for n, rid in enumerate(ids):
        await store.save_request(request_record(rid))
        if n == 0:
            assert await asyncio.to_thread(entered.wait, 10)
        await store.save_attempt(attempt_record(rid))
        await store.update_request_state(
            rid, state="completed", retry_count=0, history=["idle", "completed"], updated_at=2
        )
        await store.update_request_state(
            rid, state="failed", retry_count=1, history=["idle", "failed"], updated_at=3
        )
    release.set()
    await store.flush()
    assert sent == [
        [("save_request", 1)],
        [("save_request", 49), ("save_attempt", 50), ("update_request_state", 1)],
    ]
    rows = [await store.get_request(rid) for rid in ids]
    assert all(r is not None and r.request.state == "failed" for r in rows)
    assert all(r is not None and r.request.history == ["idle", "failed"] for r in rows)
    [metrics] = await store.get_provider_metrics()
    assert metrics.request_count == 50
    await store.close()
