"""Where the router records every request's life (DESIGN.md, "Persistence").

``open_store(url)`` opens and migrates a store as an async context manager::

    async with open_store("sqlite:///requests.db") as store:
        row = await store.get_request(request_id)

The URL's scheme picks the backend through a registry (:func:`register_store`); SQLite is
registered for ``sqlite``: ``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db``,
``sqlite://:memory:`` (or ``sqlite:///:memory:``). Backends load on first use, so importing
this package loads none. For an owner that closes the store itself (the router):
``create_store(url)`` builds it unopened, ``await open_store_url(url)`` opens it too.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from importlib import import_module
from typing import TYPE_CHECKING, Any

from automatosx.errors import ConfigurationError
from automatosx.store._messages import LazyMessages, messages_json  # the recording's
from automatosx.store.base import (
    AttemptRecord,
    ChunkRow,
    LatencyBucket,
    LatencyHistogram,
    LazyText,
    MetricsRow,
    Outcome,
    ProviderSummary,
    RecordSink,
    RequestRecord,
    RequestRow,
    Store,
    StoreReader,
    StoreState,
    SuccessPoint,
    SuccessSeries,
    SummaryBy,
    WriteFailure,
)
from automatosx.store.migrate import migrate  # eager: the name is also its submodule's
from automatosx.store.null import NullStore

if TYPE_CHECKING:
    from automatosx.store.dao import ProviderDAO
    from automatosx.store.sqlite import Durability, SQLiteStore

__all__ = [
    "AttemptRecord",
    "ChunkRow",
    "Durability",
    "LatencyBucket",
    "LatencyHistogram",
    "LazyMessages",
    "LazyText",
    "MetricsRow",
    "NullStore",
    "Outcome",
    "ProviderDAO",
    "ProviderSummary",
    "RecordSink",
    "RequestRecord",
    "RequestRow",
    "SQLiteStore",
    "SUPPORTED_SCHEMES",
    "Store",
    "StoreFactory",
    "StoreReader",
    "StoreState",
    "SuccessPoint",
    "SuccessSeries",
    "SummaryBy",
    "WriteFailure",
    "messages_json",
    "create_store",
    "migrate",
    "open_store",
    "open_store_url",
    "register_store",
    "registered_schemes",
]

StoreFactory = Callable[..., Store]
"""``factory(url, **kwargs) -> Store``: builds an unopened store from its whole URL."""

# scheme -> a factory, or "module:attribute" of one, imported on first use
_FACTORIES: dict[str, StoreFactory | str] = {
    "sqlite": "automatosx.store.sqlite:SQLiteStore.from_url",
    "postgresql": "automatosx.store.postgres:create_postgres_store",
    "postgres": "automatosx.store.postgres:create_postgres_store",
}
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*$")

# The backends load on first use: the router imports this package for the record types and
# must not pull in aiosqlite when it records nothing (``store=None``).
_LAZY = {
    "Durability": "automatosx.store.sqlite",
    "SQLiteStore": "automatosx.store.sqlite",
    "ProviderDAO": "automatosx.store.dao",
}


def __getattr__(name: str) -> Any:
    if name == "SUPPORTED_SCHEMES":
        return registered_schemes()
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'automatosx.store' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def register_store(scheme: str, factory: StoreFactory | str, *, replace: bool = False) -> None:
    """Make ``open_store("<scheme>://...")`` build its store with ``factory``.

    ``factory`` is a callable ``(url, **kwargs) -> Store`` (unopened), or the string
    ``"package.module:attribute"`` of one, imported the first time a URL needs it (so a
    backend's dependencies load only when used). Registering a scheme twice is a
    :class:`ConfigurationError` unless ``replace=True``.
    """
    key = scheme.lower() if isinstance(scheme, str) else ""
    if not _SCHEME.match(key):
        raise ConfigurationError(
            f"register_store: scheme must be letters, digits, '+', '-' or '.', starting with a"
            f" letter (e.g. 'postgresql'), not {scheme!r}"
        )
    if isinstance(factory, str):
        if factory.count(":") != 1:
            raise ConfigurationError(
                f"register_store: a factory path is 'package.module:attribute', not {factory!r}"
            )
    elif not callable(factory):
        raise ConfigurationError(
            f"register_store: factory must be callable or a 'module:attribute' string, not"
            f" {type(factory).__name__}"
        )
    if key in _FACTORIES and not replace:
        raise ConfigurationError(
            f"register_store: {key!r} is already registered; pass replace=True to override it"
        )
    _FACTORIES[key] = factory


def registered_schemes() -> tuple[str, ...]:
    """The URL schemes :func:`open_store` accepts, sorted."""
    return tuple(sorted(_FACTORIES))


def _factory(scheme: str) -> StoreFactory:
    factory = _FACTORIES[scheme]
    if isinstance(factory, str):
        module_name, _, attribute = factory.partition(":")
        value: Any = import_module(module_name)
        for part in attribute.split("."):
            value = getattr(value, part)
        factory = _FACTORIES[scheme] = value
    return factory


def create_store(url: str, **kwargs: Any) -> Store:
    """The store a URL names, not yet opened. ``kwargs`` go to the store's constructor."""
    if not isinstance(url, str):
        raise TypeError(f"create_store expects a URL str, got {type(url).__name__}")
    scheme, sep, _rest = url.partition("://")
    key = scheme.lower()
    if not sep or key not in _FACTORIES:
        # Only the scheme is echoed: the rest of a URL may hold a password.
        shown = repr(scheme) if sep and _SCHEME.match(key) else "none"
        raise ConfigurationError(
            f"unsupported store URL scheme {shown}; supported: "
            + ", ".join(f"{s}://" for s in registered_schemes())
            + " (e.g. 'sqlite:///requests.db', 'sqlite://:memory:')"
        )
    return _factory(key)(url, **kwargs)


async def open_store_url(url: str, **kwargs: Any) -> Store:
    """The store a URL names, opened and migrated; the caller must ``close()`` it."""
    store = create_store(url, **kwargs)
    await store.open()
    return store


@asynccontextmanager
async def open_store(url: str, **kwargs: Any) -> AsyncIterator[Any]:
    """Open (and migrate) the store a URL names; flush and close it on exit.

    Yields the backend's store (a :class:`Store`; e.g. :class:`SQLiteStore` for ``sqlite``).
    """
    store = create_store(url, **kwargs)
    await store.open()
    try:
        yield store
    finally:
        await store.close()
