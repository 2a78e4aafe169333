"""The budgets' SQL per dialect (tables: sqlite ``006_budgets``, postgresql ``005_budgets``),
and a small connection for the reads done outside the store's write path: resuming each
window's spend when a router opens, and ``automatosx budgets --db``.

Writes — each budget's definition at ``open()``, each attempt's spend — go through the
store's engine as record kinds of their own (``DEFINITION`` and ``SPEND`` below give each
dialect's statement and :func:`definition_row` / :func:`spend_row` the parameters).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from typing import Any

from automatosx.budgets._config import BudgetSpec
from automatosx.budgets._ledger import SpendRecord
from automatosx.errors import ConfigurationError

__all__ = [
    "DEFINITION",
    "SPEND",
    "Db",
    "connect",
    "definition_row",
    "read_definitions",
    "read_totals",
    "spend_row",
]

DEFINITION = {
    "sqlite": "INSERT INTO budget_definitions (budget_id, definition, created_at) VALUES (?, ?, ?)",
    "postgresql": (
        "INSERT INTO budget_definitions (budget_id, definition, created_at) VALUES ($1, $2, $3)"
    ),
}
_SPEND_COLUMNS = (
    "request_id, attempt, budget_id, scope, window_start, reserved_nusd, charged_nusd, "
    "reserved_tokens, charged_tokens, created_at"
)
SPEND = {
    "sqlite": f"INSERT INTO budget_spend ({_SPEND_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    "postgresql": (
        f"INSERT INTO budget_spend ({_SPEND_COLUMNS}) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
    ),
}
_DEFINITIONS = (
    "SELECT budget_id, definition FROM budget_definitions WHERE id IN "
    "(SELECT MAX(id) FROM budget_definitions GROUP BY budget_id) ORDER BY budget_id"
)
_TOTALS = {
    "sqlite": (
        "SELECT scope, charged_nusd, charged_tokens, attempts FROM budget_totals "
        "WHERE budget_id = ? AND window_start = ? ORDER BY charged_nusd DESC, scope"
    ),
    "postgresql": (
        "SELECT scope, charged_nusd, charged_tokens, attempts FROM budget_totals "
        "WHERE budget_id = $1 AND window_start = $2 ORDER BY charged_nusd DESC, scope"
    ),
}


def definition_row(spec: BudgetSpec) -> tuple[str, str, int]:
    return (spec.id, json.dumps(spec.definition(), sort_keys=True), int(time.time() * 1000))


def spend_row(r: SpendRecord) -> tuple[Any, ...]:
    return (
        r.request_id,
        r.attempt,
        r.budget_id,
        r.scope,
        r.window_start,
        r.reserved_nusd,
        r.charged_nusd,
        r.reserved_tokens,
        r.charged_tokens,
        r.at_ms,
    )


class Db:
    """One connection to a store's database (SQLite file or PostgreSQL)."""

    def __init__(self, dialect: str, conn: Any) -> None:
        self.dialect = dialect
        self.conn = conn

    async def fetch(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        if self.dialect == "sqlite":
            async with self.conn.execute(sql, args) as cursor:
                return [tuple(row) for row in await cursor.fetchall()]
        return [tuple(row) for row in await self.conn.fetch(sql, *args)]

    async def write(self, sql: str, rows: Sequence[tuple[Any, ...]]) -> None:
        if self.dialect == "sqlite":
            await self.conn.executemany(sql, rows)
            await self.conn.commit()
        else:
            await self.conn.executemany(sql, rows)

    async def close(self) -> None:
        await self.conn.close()


async def connect(url: str) -> Db:
    """A connection for ``sqlite:///path.db`` or ``postgresql://...`` (a bare path is a
    SQLite file)."""
    if url.startswith(("postgresql://", "postgres://")):
        import asyncpg

        return Db("postgresql", await asyncpg.connect(url))
    path = url
    if url.startswith("sqlite://"):
        rest = url.partition("://")[2]
        if not rest.startswith("/") or rest == "/":
            raise ConfigurationError(
                f"--db: a SQLite URL is sqlite:///relative.db or sqlite:////absolute.db, "
                f"not {url!r}"
            )
        path = rest[1:]
    elif "://" in url:
        raise ConfigurationError(
            f"--db: budgets are read from SQLite or PostgreSQL, not {url.partition(':')[0]!r}"
        )
    import aiosqlite

    return Db("sqlite", await aiosqlite.connect(path))


async def read_definitions(db: Db) -> list[dict[str, Any]]:
    """The budgets stored at ``open()`` (the latest definition of each id), as JSON."""
    return [json.loads(text) for _, text in await db.fetch(_DEFINITIONS)]


async def read_totals(db: Db, budget_id: str, window_start: int) -> list[tuple[str, int, int, int]]:
    """(scope, charged nano-dollars, charged tokens, attempts) of one budget's window."""
    rows = await db.fetch(_TOTALS[db.dialect], budget_id, window_start)
    return [(str(s), int(n), int(t), int(a)) for s, n, t, a in rows]


async def resume_rows(
    db: Db, specs: Iterable[BudgetSpec], now: float
) -> list[tuple[str, str, int, int, int]]:
    """Each budget's current window's spend per scope, for :meth:`Budgets.resume`."""
    out: list[tuple[str, str, int, int, int]] = []
    for spec in specs:
        start = spec.window.bounds(now)[0]
        for scope, nusd, tokens, _ in await read_totals(db, spec.id, start):
            out.append((spec.id, scope, start, nusd, tokens))
    return out
