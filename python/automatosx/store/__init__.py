"""Where the router records every request's life (DESIGN.md, "Persistence").

``open_store(url)`` opens and migrates a store as an async context manager::

    async with open_store("sqlite:///requests.db") as store:
        row = await store.get_request(request_id)

URLs: ``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db``, ``sqlite://:memory:``
(or ``sqlite:///:memory:``). For an owner that closes the store itself (the router):
``create_store(url)`` builds it unopened, ``await open_store_url(url)`` opens it too.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import import_module
from typing import TYPE_CHECKING, Any

from automatosx.errors import ConfigurationError
from automatosx.store.base import (
    AttemptRecord,
    ChunkRow,
    MetricsRow,
    NullStore,
    Outcome,
    RequestRecord,
    RequestRow,
    Store,
    StoreState,
)
from automatosx.store.migrate import migrate  # eager: the name is also its submodule's

if TYPE_CHECKING:
    from automatosx.store.sqlite import Durability, SQLiteStore

__all__ = [
    "AttemptRecord",
    "ChunkRow",
    "Durability",
    "MetricsRow",
    "NullStore",
    "Outcome",
    "RequestRecord",
    "RequestRow",
    "SQLiteStore",
    "SUPPORTED_SCHEMES",
    "Store",
    "StoreState",
    "create_store",
    "migrate",
    "open_store",
    "open_store_url",
]

SUPPORTED_SCHEMES = ("sqlite",)

# The backends load on first use: the router imports this package for the record types and
# must not pull in aiosqlite when it records nothing (``store=None``).
_LAZY = {
    "Durability": "automatosx.store.sqlite",
    "SQLiteStore": "automatosx.store.sqlite",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'automatosx.store' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def create_store(url: str, **kwargs: Any) -> SQLiteStore:
    """The store a URL names, not yet opened. ``kwargs`` go to the store's constructor."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in SUPPORTED_SCHEMES:
        # Only the scheme is echoed: the rest of a URL may hold a password.
        shown = repr(scheme) if sep else "none"
        raise ConfigurationError(
            f"unsupported store URL scheme {shown}; supported: "
            + ", ".join(f"{s}://" for s in SUPPORTED_SCHEMES)
            + " (e.g. 'sqlite:///requests.db', 'sqlite://:memory:')"
        )
    from automatosx.store.sqlite import SQLiteStore

    return SQLiteStore(_sqlite_path(rest), **kwargs)


def _sqlite_path(rest: str) -> str:
    if rest in (":memory:", "/:memory:"):
        return ":memory:"
    if not rest.startswith("/") or rest == "/":
        raise ConfigurationError(
            f"a SQLite store URL is sqlite:///relative.db, sqlite:////absolute.db or"
            f" sqlite://:memory:, not 'sqlite://{rest}'"
        )
    return rest[1:]


async def open_store_url(url: str, **kwargs: Any) -> SQLiteStore:
    """The store a URL names, opened and migrated; the caller must ``close()`` it."""
    store = create_store(url, **kwargs)
    await store.open()
    return store


@asynccontextmanager
async def open_store(url: str, **kwargs: Any) -> AsyncIterator[SQLiteStore]:
    """Open (and migrate) the store a URL names; flush and close it on exit."""
    store = create_store(url, **kwargs)
    await store.open()
    try:
        yield store
    finally:
        await store.close()
