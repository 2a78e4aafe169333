"""open_store(url): URL forms, errors, and the import boundary."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from store_records import new_id, request_record

from automatosx.errors import ConfigurationError, StoreError
from automatosx.store import SQLiteStore, StoreState, create_store, open_store, open_store_url


async def test_absolute_path_url(tmp_path: Path) -> None:
    path = tmp_path / "abs.db"
    async with open_store(f"sqlite:///{path}") as store:
        assert store.path == str(path)
        states = [store.state]
    states.append(store.state)
    assert states == [StoreState.OPENED, StoreState.CLOSED]
    assert path.exists()


async def test_relative_path_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    async with open_store("sqlite:///data/rel.db") as store:
        assert store.path == "data/rel.db"
    assert (tmp_path / "data" / "rel.db").exists()


@pytest.mark.parametrize("url", ["sqlite://:memory:", "sqlite:///:memory:"])
async def test_memory_urls(url: str) -> None:
    async with open_store(url) as store:
        assert store.path == ":memory:"
        rid = new_id()
        await store.save_request(request_record(rid))
        assert await store.get_request(rid) is not None


async def test_keyword_arguments_reach_the_store(tmp_path: Path) -> None:
    async with open_store(f"sqlite:///{tmp_path / 's.db'}", durability="sync") as store:
        assert store.durability == "sync"


async def test_open_store_url_returns_an_open_store(tmp_path: Path) -> None:
    store = await open_store_url(f"sqlite:///{tmp_path / 's.db'}")
    try:
        assert store.state is StoreState.OPENED
    finally:
        await store.close()


@pytest.mark.parametrize("url", ["mysql://user:hunter2@db/automatosx", "oracle://x", "requests.db"])
def test_unknown_scheme_names_the_supported_ones(url: str) -> None:
    with pytest.raises(
        ConfigurationError, match=r"supported: postgres://, postgresql://, sqlite://"
    ) as info:
        create_store(url)
    assert "hunter2" not in str(info.value)


@pytest.mark.parametrize("scheme", ["postgresql", "postgres", "PostgreSQL"])
def test_postgresql_url_creates_a_postgres_store(scheme: str) -> None:
    from automatosx.store.postgres import PostgresStore

    store = create_store(f"{scheme}://user:hunter2@db/automatosx", durability="sync")
    assert isinstance(store, PostgresStore)
    assert store.state is StoreState.UNOPENED
    assert "hunter2" not in repr(store)


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///", "sqlite://host/x.db"])
def test_malformed_sqlite_url_shows_the_forms(url: str) -> None:
    with pytest.raises(ConfigurationError, match=r"sqlite:///relative\.db"):
        create_store(url)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"durability": "eventually"}, "durability must be 'async' or 'sync'"),
        ({"queue_size": 0}, "queue_size must be a positive integer"),
        ({"batch_size": -1}, "batch_size must be a positive integer"),
    ],
)
def test_bad_options_are_configuration_errors(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        SQLiteStore(":memory:", **kwargs)  # type: ignore[arg-type]


async def test_missing_directory_is_a_store_error(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'missing' / 'x.db'}"
    with pytest.raises(StoreError, match="does not exist"):
        async with open_store(url):
            pass


def test_importing_automatosx_does_not_import_the_store() -> None:
    code = (
        "import sys, automatosx, automatosx.schemas, automatosx.errors;"
        "bad = [m for m in ('aiosqlite', 'automatosx.store', 'sqlite3') if m in sys.modules];"
        "print(bad)"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert out.stdout.strip() == "[]"
