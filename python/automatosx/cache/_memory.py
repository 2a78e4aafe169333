"""The in-process response cache: a least-recently-used map bounded in entries and bytes."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
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

    The router keeps replies here as objects (no encoding on the request's path);
    :meth:`get`/:meth:`set` implement the bytes :class:`~automatosx.cache.Cache` protocol
    for other users.
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
        # key -> (value, size, expires at)
        self._entries: OrderedDict[str, tuple[Any, int, float]] = OrderedDict()
        self.bytes = 0
        self.evictions = 0

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    # -- the router's path (objects, synchronous) ------------------------------------------

    def lookup(self, key: str) -> Any:
        """The live value under ``key`` (marked most recently used), or None."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[2] <= self._clock():
            self._drop(key, entry[1])
            return None
        self._entries.move_to_end(key)
        return entry[0]

    def keep(self, key: str, value: Any, size: int, ttl_s: float) -> bool:
        """Store ``value`` of ``size`` bytes for ``ttl_s`` seconds; False if it is larger
        than the whole cache."""
        if size > self.max_bytes:
            return False
        entries = self._entries
        old = entries.pop(key, None)
        if old is not None:
            self.bytes -= old[1]
        entries[key] = (value, size, self._clock() + ttl_s)
        self.bytes += size
        while len(entries) > self.max_entries or self.bytes > self.max_bytes:
            _, (_, dropped, _) = entries.popitem(last=False)
            self.bytes -= dropped
            self.evictions += 1
        return True

    def _drop(self, key: str, size: int) -> None:
        del self._entries[key]
        self.bytes -= size

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
