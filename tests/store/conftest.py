"""Fixtures for the store tests: a migrated SQLite file per test, and ``backend``: each
backend in turn (SQLite, real PostgreSQL via tests/_servers.py) for the shared suite."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from automatosx.store import SQLiteStore


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "store.db"


@pytest.fixture
async def store(db_path: Path) -> AsyncIterator[SQLiteStore]:
    async with SQLiteStore(db_path) as opened:
        yield opened


class Backend:
    """One store backend under test: how to build its store and read what another process
    would see (a separate connection)."""

    def __init__(self, name: str, url: str, path: Path | None) -> None:
        self.name = name
        self.url = url
        self.path = path

    def make(self, **kwargs: Any) -> Any:
        if self.path is not None:
            return SQLiteStore(self.path, **kwargs)
        from automatosx.store.postgres import PostgresStore

        return PostgresStore(self.url, **kwargs)

    async def scalar(self, sql: str) -> Any:
        if self.path is not None:
            with sqlite3.connect(self.path) as conn:
                value = conn.execute(sql).fetchone()[0]
            conn.close()
            return value
        import asyncpg

        conn = await asyncpg.connect(self.url)
        try:
            return await conn.fetchval(sql)
        finally:
            await conn.close()

    async def count(self, table: str) -> int:
        return int(await self.scalar(f"SELECT COUNT(*) FROM {table}"))


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    """Each backend in turn: a fresh SQLite file, a fresh PostgreSQL database."""
    if request.param == "sqlite":
        path = tmp_path / "store.db"
        return Backend("sqlite", f"sqlite:///{path}", path)
    from _servers import create_database

    server = request.getfixturevalue("postgres_server")
    return Backend("postgresql", create_database(server), None)


@pytest.fixture
async def any_store(backend: Backend) -> AsyncIterator[Any]:
    async with backend.make() as opened:
        yield opened
