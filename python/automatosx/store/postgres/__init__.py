"""The PostgreSQL backend: :class:`PostgresStore` (``postgresql://``/``postgres://`` URLs),
the engine over :class:`~automatosx.store.postgres._dialect.PostgresDialect`."""

from __future__ import annotations

from automatosx.store.postgres._store import (
    PgDurability,
    PostgresStore,
    create_postgres_store,
    redact_url,
)

__all__ = ["PgDurability", "PostgresStore", "create_postgres_store", "redact_url"]
