"""PostgreSQL as a :class:`~automatosx.store._dialect.Dialect`: asyncpg, ``unnest`` batches.

* A batch's rows of one write go as ONE statement, one array per column expanded with
  ``unnest`` (one round trip and one run of the metrics triggers per batch).
* Writer connections live on the writer thread's loop (``lanes`` of them); reads go through a
  pool on the caller's loop, in one read-only snapshot per read.
* A deadlock or serialization failure (writers in other processes upserting the same metrics
  rows) is transient; a lost connection is reconnected by the engine.
* Failures are scrubbed of the row values the server and driver echo.
"""

from __future__ import annotations

import asyncio
import functools
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from automatosx.errors import StoreError
from automatosx.store._dialect import Group, Op
from automatosx.store._owners import INTERRUPTED_ERROR, gone_owners, interrupted_history
from automatosx.store._schema import Write
from automatosx.store.postgres._migrate import migrate_postgres

__all__ = ["PostgresDialect"]

_ARGUMENT = re.compile(r"^(invalid input for query argument \$\d+): .*? \((.*)\)$", re.DOTALL)


class PostgresDialect:
    name = "postgresql"

    def __init__(
        self,
        connect: Callable[[], Awaitable[Any]],
        create_pool: Callable[[], Awaitable[Any]],
        lanes: int,
    ) -> None:
        self.lanes = lanes
        self._connect = connect
        self._create_pool = create_pool
        self._pool: Any | None = None

    def mark(self, n: int) -> str:
        return f"${n}"

    # -- the caller's loop ----------------------------------------------------------------

    async def open(self) -> None:
        conn = await self._connect()
        try:
            await migrate_postgres(conn)
            self._pool = await self._create_pool()
        finally:
            await conn.close()

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    async def fetch(self, queries: Sequence[tuple[str, Sequence[Any]]]) -> list[list[Any]]:
        assert self._pool is not None
        async with (
            self._pool.acquire() as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            return [await conn.fetch(sql, *params) for sql, params in queries]

    async def claim(self, owner: str, host: str, pid: int, lease_ms: int) -> int:
        assert self._pool is not None
        async with self._pool.acquire() as conn, conn.transaction():
            # one claim at a time: two stores opening together see each other's lease
            await conn.execute("LOCK TABLE store_owners IN SHARE ROW EXCLUSIVE MODE")
            now = await conn.fetchval("SELECT (extract(epoch FROM clock_timestamp()) * 1000)::int8")
            await conn.execute(
                "INSERT INTO store_owners (owner, host, pid, started_at, heartbeat_at, lease_ms)"
                " VALUES ($1, $2, $3, $4, $4, $5)",
                owner,
                host,
                pid,
                now,
                lease_ms,
            )
            owners = await conn.fetch(
                "SELECT owner, host, pid, heartbeat_at, lease_ms FROM store_owners"
            )
            gone = gone_owners(owners, host, now, exclude=owner)
            rows = await conn.fetch(
                "SELECT id, history FROM provider_requests"
                " WHERE state NOT IN ('completed', 'failed') AND owner IS NOT NULL"
                " AND owner <> $1 AND (owner <> ALL(ARRAY(SELECT owner FROM store_owners))"
                " OR owner = ANY($2::text[])) FOR UPDATE",
                owner,
                gone,
            )
            if rows:
                await conn.executemany(
                    "UPDATE provider_requests SET state = 'failed', error_code = 'INTERRUPTED',"
                    " error = $1, history = $2, updated_at = $3 WHERE id = $4",
                    [(INTERRUPTED_ERROR, interrupted_history(h), now, rid) for rid, h in rows],
                )
            await conn.execute("DELETE FROM store_owners WHERE owner = ANY($1::text[])", gone)
        return len(rows)

    # -- the writer thread ----------------------------------------------------------------

    async def connect_writer(self) -> Any:
        return await self._connect()

    async def close_writer(self, conn: Any) -> None:
        await conn.close(timeout=5)

    def drop_writer(self, conn: Any) -> None:
        conn.terminate()

    async def heartbeat(self, conn: Any, owner: str, lease_ms: int) -> None:
        await conn.execute(
            "UPDATE store_owners SET heartbeat_at = (extract(epoch FROM clock_timestamp())"
            " * 1000)::int8 WHERE owner = $1",
            owner,
        )

    async def release(self, conn: Any, owner: str) -> None:
        await conn.execute("DELETE FROM store_owners WHERE owner = $1", owner)

    async def write(self, conn: Any, groups: Sequence[Group]) -> None:
        async with conn.transaction():
            for write, rows in groups:
                if len(rows) == 1:
                    await conn.execute(_one(write), *rows[0])
                else:
                    await conn.execute(_many(write), *_columns(rows))

    async def replay(self, conn: Any, ops: Sequence[tuple[int, Op]]) -> dict[int, BaseException]:
        failures: dict[int, BaseException] = {}
        async with conn.transaction():
            for i, (write, row, many) in ops:
                try:
                    async with conn.transaction():  # a savepoint
                        if many:
                            await conn.execute(_many(write), *_columns(row))
                        else:
                            await conn.execute(_one(write), *row)
                except Exception as exc:
                    if self.lost(conn, exc):
                        raise
                    failures[i] = exc
        return failures

    def lost(self, conn: Any, exc: BaseException) -> bool:
        import asyncpg

        lost = (
            OSError,
            asyncio.TimeoutError,
            asyncpg.PostgresConnectionError,
            asyncpg.ConnectionDoesNotExistError,
            asyncpg.CannotConnectNowError,
        )
        return isinstance(exc, lost) or conn is None or bool(conn.is_closed())

    def transient(self, exc: BaseException) -> bool:
        import asyncpg

        return isinstance(exc, (asyncpg.DeadlockDetectedError, asyncpg.SerializationError))

    def scrub(self, exc: BaseException) -> BaseException:
        """``exc`` without the values a row held: a server error keeps its primary message
        (its DETAIL may read "Failing row contains (...)"), and the driver's "invalid input
        for query argument $4: '<value>' (<why>)" loses the value. Same type."""
        import asyncpg

        text = str(exc)
        argument = _ARGUMENT.match(text)
        if argument is not None:
            message = f"{argument[1]} ({argument[2]})"
        elif isinstance(exc, asyncpg.PostgresError):
            message = getattr(exc, "message", None) or text.partition("\n")[0]
        else:
            return exc
        if message == text:
            return exc
        try:
            clean = type(exc)(message)
        except Exception:
            clean = StoreError(message)
        clean.__traceback__ = exc.__traceback__
        return clean


@functools.lru_cache(maxsize=64)
def _one(write: Write) -> str:
    names = write.names
    if write.key is not None:
        sets = ", ".join(f"{name} = ${i}" for i, name in enumerate(names[:-1], 1))
        return f"UPDATE {write.table} SET {sets} WHERE {write.key} = ${write.width}"
    marks = ", ".join(f"${i}" for i in range(1, write.width + 1))
    return f"INSERT INTO {write.table} ({', '.join(names)}) VALUES ({marks})"


@functools.lru_cache(maxsize=64)
def _many(write: Write) -> str:
    arrays = ", ".join(f"${i}::{kind}[]" for i, (_, kind) in enumerate(write.columns, 1))
    names = write.names
    if write.key is not None:
        sets = ", ".join(f"{name} = u.{name}" for name in names[:-1])
        return (
            f"UPDATE {write.table} AS r SET {sets} FROM unnest({arrays})"
            f" AS u({', '.join(names)}) WHERE r.{write.key} = u.{write.key}"
        )
    return f"INSERT INTO {write.table} ({', '.join(names)}) SELECT * FROM unnest({arrays})"


def _columns(rows: Sequence[Sequence[Any]]) -> list[list[Any]]:
    return [list(column) for column in zip(*rows, strict=True)]
