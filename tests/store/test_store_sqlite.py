"""SQLiteStore only: the database file, its pragmas, its path; and what SQLite's schema
checks that PostgreSQL's does not. The behaviours both backends share are pinned once, for
both, in test_store_backends.py."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from store_records import request_record

from automatosx.errors import StoreError
from automatosx.store import SQLiteStore, StoreState


def file_modes(db_path: Path) -> dict[str, int]:
    """Permission bits of the database file and its WAL companions."""
    return {
        suffix: stat.S_IMODE(os.stat(f"{db_path}{suffix}").st_mode)
        for suffix in ("", "-wal", "-shm")
    }


async def test_database_file_is_private_to_its_owner(db_path: Path) -> None:
    async with SQLiteStore(db_path) as store:
        await store.save_request(request_record())
        await store.flush()
        assert file_modes(db_path) == {"": 0o600, "-wal": 0o600, "-shm": 0o600}


async def test_database_uses_wal_and_foreign_keys(store: SQLiteStore) -> None:
    [[mode], [keys]] = await store._fetch(("PRAGMA journal_mode", ()), ("PRAGMA foreign_keys", ()))
    assert (mode[0], keys[0]) == ("wal", 1)


async def test_missing_directory_is_a_one_line_store_error(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "nope" / "store.db")
    with pytest.raises(StoreError, match=r"directory '.*nope' does not exist") as info:
        await store.open()
    assert "\n" not in str(info.value)
    assert store.state is StoreState.UNOPENED


async def test_check_constraints_reject_an_empty_provider(store: SQLiteStore) -> None:
    await store.save_request(request_record(provider=""))
    with pytest.raises(StoreError, match=r"1 write\(s\) failed.*CHECK constraint failed"):
        await store.flush()
