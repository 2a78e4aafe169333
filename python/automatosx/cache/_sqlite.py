"""The response cache in a SQLite file (aiosqlite): its own table, its own connection.

It may be the request store's file: the table ``automatosx_response_cache`` is the cache's
alone, the connection is its own, and both use WAL, so the store's writer and the cache do not
block each other for longer than one short write.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from automatosx.errors import ConfigurationError

__all__ = ["SQLiteCache"]

_TABLE = "automatosx_response_cache"
_PURGE_EVERY = 1_000  # stores between two deletions of expired rows


class SQLiteCache:
    """A response cache in a SQLite file, shared by every process that opens it.

    ``SQLiteCache("cache.db")`` or ``Router(..., cache="sqlite:///cache.db")``. Expired rows
    are not read, and are deleted every 1,000 stores. The file is opened at ``open()``
    (the router calls it) and closed at ``aclose()``."""

    def __init__(self, path: str | Path, *, busy_timeout_ms: int = 5_000) -> None:
        self.path = Path(path)
        self.busy_timeout_ms = busy_timeout_ms
        self._db: Any = None
        self._stores = 0

    @classmethod
    def from_url(cls, url: str) -> SQLiteCache:
        if not url.startswith("sqlite:///") or len(url) <= len("sqlite:///"):
            raise ConfigurationError(
                f"cache: a SQLite cache URL is 'sqlite:///path/to/cache.db', got {url!r}"
            )
        return cls(url[len("sqlite:///") :])

    def __repr__(self) -> str:
        return f"SQLiteCache({str(self.path)!r})"

    async def open(self) -> None:
        import aiosqlite

        if self._db is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = await aiosqlite.connect(self.path, timeout=self.busy_timeout_ms / 1000)
        try:
            await db.execute("PRAGMA journal_mode=WAL")
            await db.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_ms)}")
            await db.execute(
                f"CREATE TABLE IF NOT EXISTS {_TABLE} ("
                "key TEXT PRIMARY KEY, value BLOB NOT NULL, "
                "expires_at INTEGER NOT NULL, stored_at INTEGER NOT NULL)"
            )
            await db.commit()
        except BaseException:
            await db.close()
            raise
        self._db = db

    async def aclose(self) -> None:
        db, self._db = self._db, None
        if db is not None:
            await db.close()

    def _conn(self) -> Any:
        if self._db is None:
            raise ConfigurationError("SQLiteCache is not open: call open() (the router does)")
        return self._db

    async def get(self, key: str) -> bytes | None:
        now = int(time.time() * 1000)
        async with self._conn().execute(
            f"SELECT value FROM {_TABLE} WHERE key = ? AND expires_at > ?", (key, now)
        ) as cursor:
            row = await cursor.fetchone()
        if row is None:
            return None
        value = row[0]
        return value.encode() if isinstance(value, str) else value

    async def set(self, key: str, value: bytes, ttl_s: float) -> None:
        db = self._conn()
        now = int(time.time() * 1000)
        await db.execute(
            f"INSERT OR REPLACE INTO {_TABLE} (key, value, expires_at, stored_at) "
            "VALUES (?, ?, ?, ?)",
            (key, bytes(value), now + int(ttl_s * 1000), now),
        )
        self._stores += 1
        if self._stores % _PURGE_EVERY == 0:
            await db.execute(f"DELETE FROM {_TABLE} WHERE expires_at <= ?", (now,))
        await db.commit()
