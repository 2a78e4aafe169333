"""The two protocols, the scheme registry, type errors at the boundary, reader summaries."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from store_records import T0, attempt_record, new_id, request_record, response

import automatosx.store as store_module
from automatosx.errors import ConfigurationError
from automatosx.schemas import ProviderHealth, TokenUsage
from automatosx.store import (
    NullStore,
    ProviderSummary,
    RecordSink,
    SQLiteStore,
    Store,
    StoreReader,
    create_store,
    open_store,
    register_store,
    registered_schemes,
)


@pytest.mark.parametrize("protocol", [RecordSink, StoreReader, Store])
def test_sqlite_and_null_stores_implement_each_protocol(protocol: type, db_path: Path) -> None:
    assert isinstance(SQLiteStore(db_path), protocol)
    assert isinstance(NullStore(), protocol)


def test_a_writer_only_object_is_a_sink_but_not_a_reader() -> None:
    class Sink:
        durability = "sync"
        write_errors = 0

        def drain_write_errors(self) -> list[object]:
            return []

        async def open(self) -> None: ...
        async def save_request(self, record: object) -> None: ...
        async def update_request_state(self, request_id: str, **kw: object) -> None: ...
        async def save_attempt(self, record: object) -> None: ...
        async def save_response(self, response: object) -> None: ...
        async def save_stream_chunks(self, request_id: str, chunks: object) -> None: ...
        async def save_health_check(self, health: object) -> None: ...
        async def flush(self) -> None: ...
        async def close(self) -> None: ...

    assert isinstance(Sink(), RecordSink)
    assert not isinstance(Sink(), StoreReader)
    del Sink.drain_write_errors  # what the router reads is part of the protocol
    assert not isinstance(Sink(), RecordSink)


async def test_null_store_has_every_protocol_method_and_records_nothing() -> None:
    null = NullStore()
    for protocol in (RecordSink, StoreReader):
        for name, member in vars(protocol).items():
            if callable(member) and not name.startswith("_"):
                assert callable(getattr(null, name)), name
    assert await null.list_requests() == []
    assert await null.count_requests_by_state() == {}
    assert await null.get_request("x") is None
    assert null.drain_write_errors() == []
    with pytest.raises(ValueError, match="by must be"):
        await null.get_provider_summaries(by="nope")  # type: ignore[arg-type]
    with pytest.raises(AttributeError):
        null.save_everything  # noqa: B018


async def test_messages_may_be_any_object_whose_str_is_the_text(store: SQLiteStore) -> None:
    class Text:  # only __str__: nothing sqlite3-specific
        def __str__(self) -> str:
            return '[{"role":"user","content":"lazy"}]'

    rid = new_id()
    await store.save_request(request_record(rid, messages=Text()))
    row = await store.get_request(rid)
    assert row is not None
    assert row.request.messages == '[{"role":"user","content":"lazy"}]'


# -- wrong types ------------------------------------------------------------------------

WRONG_CALLS: list[tuple[str, tuple[Any, ...], str]] = [
    ("save_request", ({"id": "x"},), "save_request expects RequestRecord, got dict"),
    ("save_attempt", ("x",), "save_attempt expects AttemptRecord, got str"),
    ("save_response", ({"content": "hi"},), "save_response expects ProviderResponse, got dict"),
    ("save_stream_chunks", (42, []), "save_stream_chunks expects str, got int"),
    ("save_stream_chunks", ("id", "abc"), "save_stream_chunks expects list or tuple, got str"),
    ("save_health_check", ("claude",), "save_health_check expects ProviderHealth, got str"),
]


@pytest.mark.parametrize(("method", "args", "message"), WRONG_CALLS)
async def test_a_wrong_argument_type_is_a_type_error_naming_the_expected_type(
    store: SQLiteStore, method: str, args: tuple[Any, ...], message: str
) -> None:
    with pytest.raises(TypeError, match=f"^{message}$"):
        await getattr(store, method)(*args)
    await store.flush()  # nothing was queued
    assert store.write_errors == 0


async def test_update_request_state_with_a_non_str_id_is_a_type_error(store: SQLiteStore) -> None:
    with pytest.raises(TypeError, match="update_request_state expects str, got int"):
        await store.update_request_state(
            7,  # type: ignore[arg-type]
            state="completed",
            retry_count=0,
            history=[],
            updated_at=T0,
        )


# -- the registry ---------------------------------------------------------------------


@pytest.fixture
def clean_registry() -> Any:
    saved = dict(store_module._FACTORIES)
    yield
    store_module._FACTORIES.clear()
    store_module._FACTORIES.update(saved)


async def test_a_registered_scheme_opens_the_factory_store(
    clean_registry: None, tmp_path: Path
) -> None:
    seen: list[str] = []

    def factory(url: str, **kwargs: Any) -> SQLiteStore:
        seen.append(url)
        return SQLiteStore(tmp_path / "custom.db", **kwargs)

    register_store("custom", factory)
    async with open_store("custom://anything", durability="sync") as store:
        assert store.durability == "sync"
    assert seen == ["custom://anything"]
    assert "custom" in registered_schemes()


def test_a_lazy_factory_is_imported_on_first_use(clean_registry: None, tmp_path: Path) -> None:
    register_store("lazy", "automatosx.store.sqlite:SQLiteStore.from_url")
    store = create_store("lazy:///" + str(tmp_path / "x.db"))
    assert isinstance(store, SQLiteStore)


def test_registering_a_scheme_twice_needs_replace(clean_registry: None) -> None:
    with pytest.raises(ConfigurationError, match="'sqlite' is already registered"):
        register_store("sqlite", "automatosx.store.sqlite:SQLiteStore.from_url")
    register_store("sqlite", "automatosx.store.sqlite:SQLiteStore.from_url", replace=True)


@pytest.mark.parametrize(
    ("scheme", "factory", "message"),
    [
        ("no spaces", "a:b", "scheme must be letters"),
        ("ok", "no_colon", "'package.module:attribute'"),
        ("ok", 42, "factory must be callable"),
    ],
)
def test_bad_registrations_are_configuration_errors(
    clean_registry: None, scheme: str, factory: Any, message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        register_store(scheme, factory)


def test_unknown_scheme_lists_the_registered_ones_and_hides_the_url(clean_registry: None) -> None:
    register_store("custom", "x.y:z")
    with pytest.raises(
        ConfigurationError, match=r"supported: custom://, postgres://, postgresql://, sqlite://"
    ) as info:
        create_store("mysql://admin:s3cret-pw@db.internal/prod")
    assert "s3cret" not in str(info.value)
    assert "db.internal" not in str(info.value)


def test_importing_the_store_package_loads_no_backend() -> None:
    code = (
        "import sys, automatosx.store;"
        "print([m for m in ('aiosqlite', 'automatosx.store.sqlite', 'automatosx.store.dao',"
        " 'asyncpg') if m in sys.modules])"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert out.stdout.strip() == "[]"


# -- the reader's summaries -----------------------------------------------------------


async def test_provider_summaries_match_hand_computed_figures(store: SQLiteStore) -> None:
    # r1: claude fails then answers. r2: claude fails, openai answers (a fallback).
    r1, r2 = new_id(), new_id()
    for rid in (r1, r2):
        await store.save_request(request_record(rid))
    await store.save_attempt(attempt_record(r1, 1, outcome="failure", duration=10))
    await store.save_attempt(attempt_record(r1, 2, duration=100))
    await store.save_response(
        response(r1, tokens=TokenUsage(input_tokens=1, output_tokens=2, total_tokens=3), cost=0.5)
    )
    await store.save_attempt(attempt_record(r2, 1, outcome="failure", duration=20))
    await store.save_attempt(attempt_record(r2, 2, provider="openai", model="gpt-4o", duration=40))
    await store.save_response(
        response(
            r2,
            provider="openai",
            model="gpt-4o",
            tokens=TokenUsage(input_tokens=4, output_tokens=6, total_tokens=10),
            cost=0.25,
        )
    )
    await store.update_request_state(
        r1, state="completed", retry_count=1, history=["completed"], updated_at=T0
    )
    summaries = await store.get_provider_summaries()
    assert summaries == [
        ProviderSummary(
            provider="claude",
            model="claude-sonnet-4-5",
            attempts=3,
            successes=1,
            failures=2,
            requests=2,
            retries=1,
            fallbacks=0,
            p50_ms=100,
            p95_ms=100,
            p99_ms=100,
            input_tokens=1,
            output_tokens=2,
            total_tokens=3,
            cost=0.5,
        ),
        ProviderSummary(
            provider="openai",
            model="gpt-4o",
            attempts=1,
            successes=1,
            failures=0,
            requests=1,
            retries=0,
            fallbacks=1,
            p50_ms=40,
            p95_ms=40,
            p99_ms=40,
            input_tokens=4,
            output_tokens=6,
            total_tokens=10,
            cost=0.25,
        ),
    ]
    assert summaries[0].success_rate == pytest.approx(1 / 3)
    assert await store.count_requests_by_state() == {"completed": 1, "validating": 1}
    await store.save_health_check(ProviderHealth(provider="gemini", status="down"))
    assert [h.status for h in await store.get_provider_health("gemini")] == ["down"]
