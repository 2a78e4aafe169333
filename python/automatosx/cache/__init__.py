"""The response cache: pay once for a reply that was already given.

``Router(..., cache="memory")`` (or a ``sqlite:///`` URL, a ``redis://`` URL, or a
:class:`Cache` object) and a request's ``cache: {"ttlS", "namespace", "mode"}``: an exact
cache keyed by a SHA-256 over the canonical form of what decides the reply
(:func:`cache_key`), per tenant by default. See ``docs/guides/caching.md``.

Importing this package imports neither aiosqlite nor the Redis client; opening a cache that
needs one does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from automatosx.cache._entry import Cache, CacheDataError, CachedReply
from automatosx.cache._key import cache_key, canonical_form
from automatosx.cache._memory import MemoryCache

if TYPE_CHECKING:
    from automatosx.cache._redis import RedisCache
    from automatosx.cache._sqlite import SQLiteCache

__all__ = [
    "Cache",
    "CacheDataError",
    "CachedReply",
    "MemoryCache",
    "RedisCache",
    "SQLiteCache",
    "cache_key",
    "canonical_form",
]


def __getattr__(name: str) -> Any:
    if name == "SQLiteCache":
        from automatosx.cache._sqlite import SQLiteCache

        return SQLiteCache
    if name == "RedisCache":
        from automatosx.cache._redis import RedisCache

        return RedisCache
    raise AttributeError(f"module 'automatosx.cache' has no attribute {name!r}")
