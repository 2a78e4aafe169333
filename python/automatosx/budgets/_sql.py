"""The budgets' rows and reads (tables: sqlite ``006_budgets``, postgresql ``005_budgets``).

Writes go through the store's engine, as record kinds of its own
(``Store.save_budget_definitions`` at ``open()``, ``Store.save_budget_spend`` per attempt;
:func:`definition_row` and :func:`spend_row` build the rows). Reads: a router opening resumes
each window's spend with ``Store.read`` (:func:`resume_rows`); ``automatosx budgets --db``
reads the database alone through :class:`Db`, without opening a store.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from automatosx.budgets._config import BudgetSpec
from automatosx.budgets._ledger import SpendRecord
from automatosx.errors import ConfigurationError

__all__ = [
    "TOTALS",
    "Db",
    "connect",
    "definition_row",
    "read_definitions",
    "read_totals",
    "spend_row",
]

_DEFINITIONS = (
    "SELECT budget_id, definition FROM budget_definitions WHERE id IN "
    "(SELECT MAX(id) FROM budget_definitions GROUP BY budget_id) ORDER BY budget_id"
)
TOTALS = (
    "SELECT scope, charged_nusd, charged_tokens, attempts FROM budget_totals "
    "WHERE budget_id = {1} AND window_start = {2} ORDER BY charged_nusd DESC, scope"
)
"""One budget's window, per scope value; ``{n}``: the dialect's placeholders."""


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

    async def read(self, sql: str, params: Sequence[Any] = ()) -> list[list[Any]]:
        """As ``Store.read``: ``{n}`` in ``sql`` is the n-th parameter's placeholder."""
        if self.dialect == "sqlite":
            text = sql.format(None, *["?"] * len(params))
            async with self.conn.execute(text, tuple(params)) as cursor:
                return [list(row) for row in await cursor.fetchall()]
        text = sql.format(None, *[f"${i}" for i in range(1, len(params) + 1)])
        return [list(row) for row in await self.conn.fetch(text, *params)]

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


class Reader(Protocol):
    """A store (``Store.read``) or a :class:`Db`."""

    async def read(self, sql: str, params: Sequence[Any] = ()) -> list[list[Any]]: ...


async def read_definitions(db: Reader) -> list[dict[str, Any]]:
    """The budgets stored at ``open()`` (the latest definition of each id), as JSON."""
    return [json.loads(text) for _, text in await db.read(_DEFINITIONS)]


async def read_totals(
    db: Reader, budget_id: str, window_start: int
) -> list[tuple[str, int, int, int]]:
    """(scope, charged nano-dollars, charged tokens, attempts) of one budget's window."""
    rows = await db.read(TOTALS, (budget_id, window_start))
    return [(str(s), int(n), int(t), int(a)) for s, n, t, a in rows]


async def resume_rows(
    db: Reader, specs: Iterable[BudgetSpec], now: float
) -> list[tuple[str, str, int, int, int]]:
    """Each budget's current window's spend per scope, for :meth:`Budgets.resume`."""
    out: list[tuple[str, str, int, int, int]] = []
    for spec in specs:
        start = spec.window.bounds(now)[0]
        for scope, nusd, tokens, _ in await read_totals(db, spec.id, start):
            out.append((spec.id, scope, start, nusd, tokens))
    return out
