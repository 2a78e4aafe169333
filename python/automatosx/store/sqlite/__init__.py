"""The SQLite backend: :class:`SQLiteStore` (``sqlite://`` URLs), the engine over
:class:`~automatosx.store.sqlite._dialect.SQLiteDialect`."""

from __future__ import annotations

from automatosx.store.sqlite._store import Durability, SQLiteStore

__all__ = ["Durability", "SQLiteStore"]
