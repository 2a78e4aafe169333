"""The in-process response cache: a least-recently-used map bounded in entries and bytes."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

from automatosx.cache._entry import CachedReply

__all__ = ["MemoryCache"]


class MemoryCache:
    """A bounded LRU cache in this process (``Router(..., cache="memory")``).

    At most ``max_entries`` entries and ``max_bytes`` bytes (a reply's size is its texts'
    UTF-8 length plus a small fixed overhead per entry and chunk; a bytes value counts its
    length): storing past either bound evicts the least recently used entries first, and a
    single value larger than ``max_bytes`` is not stored. Entries expire ``ttl_s`` after they
    were stored (checked when read, and evicted as the LRU turns over). Not shared between
    processes: use a SQLite or Redis cache for that.

    The router keeps replies here as objects (no encoding on the request's path) under
    :func:`~automatosx.cache._key.memory_key` (a tuple of the request's fields for a text-only
    request: no hashing on the request's path); :meth:`get`/:meth:`set` implement the bytes
    :class:`~automatosx.cache.Cache` protocol for other users, under their own keys.
    """

    __slots__ = ("_clock", "_entries", "bytes", "evictions", "max_bytes", "max_entries")

    def __init__(
        self,
        max_entries: int = 10_000,
        max_bytes: int = 64 * 2**20,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_entries < 1 or max_bytes < 1:
            raise ValueError(
                f"MemoryCache: max_entries and max_bytes must be positive, got "
                f"{max_entries!r} and {max_bytes!r}"
            )
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._clock = clock
        # hash(key) -> (key, value, size, expires at): keyed by the hash so a tuple key is
        # hashed once per request (the caller passes it); the key itself is compared on a
        # match, so two keys that share a hash never see each other's value
        self._entries: OrderedDict[int, tuple[Hashable, Any, int, float]] = OrderedDict()
        self.bytes = 0
        self.evictions = 0

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, Hashable):
            return False
        entry = self._entries.get(hash(key))
        return entry is not None and entry[0] == key

    # -- the router's path (objects, synchronous) ------------------------------------------

    def lookup(self, key: Hashable, h: int | None = None) -> Any:
        """The live value under ``key`` (marked most recently used), or None. ``h`` is
        ``hash(key)`` when the caller has it."""
        if h is None:
            h = hash(key)
        entries = self._entries
        entry = entries.get(h)
        if entry is None or entry[0] != key:
            return None
        if entry[3] <= self._clock():
            del entries[h]
            self.bytes -= entry[2]
            return None
        entries.move_to_end(h)
        return entry[1]

    def keep(
        self, key: Hashable, value: Any, size: int, ttl_s: float, h: int | None = None
    ) -> bool:
        """Store ``value`` of ``size`` bytes for ``ttl_s`` seconds (replacing what is under
        ``key``, or under another key of the same hash); False if it is larger than the whole
        cache. ``h`` is ``hash(key)`` when the caller has it."""
        if size > self.max_bytes:
            return False
        if h is None:
            h = hash(key)
        entries = self._entries
        old = entries.pop(h, None)
        if old is not None:
            self.bytes -= old[2]
        entries[h] = (key, value, size, self._clock() + ttl_s)
        self.bytes += size
        if len(entries) > self.max_entries or self.bytes > self.max_bytes:
            self._evict()
        return True

    def _evict(self) -> None:
        entries = self._entries
        while len(entries) > self.max_entries or self.bytes > self.max_bytes:
            _, (_, _, dropped, _) = entries.popitem(last=False)
            self.bytes -= dropped
            self.evictions += 1

    def clear(self) -> None:
        self._entries.clear()
        self.bytes = 0

    # -- the Cache protocol (bytes) ---------------------------------------------------------

    async def get(self, key: str) -> bytes | None:
        value = self.lookup(key)
        if isinstance(value, CachedReply):
            return value.to_bytes()
        return value if isinstance(value, bytes) else None

    async def set(self, key: str, value: bytes, ttl_s: float) -> None:
        self.keep(key, bytes(value), len(value), ttl_s)
