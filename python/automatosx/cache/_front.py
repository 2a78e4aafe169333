"""The response cache as the router uses it: which requests use it, lookups with single
flight, what is stored, and a backend's failures turned into misses.

The router's pre-request step asks :meth:`ResponseCache.begin` (None: this request does not
use the cache), then :meth:`ResponseCache.fetch`: a stored reply (a hit), or None (a miss).
On a miss by a request that may write, it leads a *flight*: identical requests that arrive
while it runs wait for it instead of calling the provider, and get its reply when it
completes (:meth:`ResponseCache.complete`), or go on by themselves when it fails
(:meth:`ResponseCache.abandon`; the router calls one or the other on every exit, cancellation
included). Single flight is per process: a fleet sharing a Redis cache shares stored replies,
not flights.

Stored are complete successful replies only: ``complete`` is called by the router only for a
reply it returned whole (an execute response that also passed ``response_model``; a stream
that reached its end), and refuses a refusal (finish reason ``content_filter``) itself. A
reply that ended on ``maxTokens`` is complete and is stored.

Any exception of a backend (down, slow past its timeout, a corrupt or foreign value) is a
miss, or a lost write, with a warning on the ``automatosx.cache`` logger (at most one every
10 s per kind of failure, with the count of those not logged): never an exception to the
caller.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Hashable, Sequence
from typing import Any, cast

from automatosx.cache._entry import Cache, CacheDataError, CachedReply, ReplyChunk
from automatosx.cache._key import MemoryKey, cache_key, memory_key_hash
from automatosx.cache._memory import MemoryCache
from automatosx.errors import ConfigurationError, redact
from automatosx.schemas import CacheOptions, ProviderRequest, ProviderResponse

__all__ = ["MISS", "WAIT", "Lookup", "ResponseCache", "Ticket", "open_cache"]

WAIT = object()
"""``ResponseCache.fetch_now``/``probe``: the answer needs ``await fetch()``."""
MISS = object()
"""``ResponseCache.probe``: a miss with nothing to remember (a request that does not write)."""
Ticket = tuple[MemoryKey, int, float, bool]
"""``ResponseCache.probe``'s miss by a request that writes: (its key, ``hash(key)``, its TTL,
whether it leads the key's flight); handed back to ``store`` or ``drop``."""

log = logging.getLogger("automatosx.cache")
_WARN_EVERY_S = 10.0


class Lookup:
    """One request's use of the cache: its key, TTL, whether it reads and writes, and
    whether it leads the key's flight. (The memory cache's fast path, ``probe``, makes
    none: a miss there is a :data:`Ticket`.)"""

    __slots__ = ("h", "key", "leads", "reads", "ttl_s", "writes")

    def __init__(
        self, key: MemoryKey, ttl_s: float, reads: bool, writes: bool, h: int | None = None
    ) -> None:
        self.key = key
        """The backend's key: :func:`~automatosx.cache._key.cache_key` (the hex SHA-256), or
        for the memory cache :func:`~automatosx.cache._key.memory_key`."""
        self.h = hash(key) if h is None else h
        """``hash(key)``, computed once: the flights and the memory cache are keyed by it
        (and compare the key itself on a match)."""
        self.ttl_s = ttl_s
        self.reads = reads
        self.writes = writes
        self.leads = False
        """Whether identical requests that arrive meanwhile wait for this one."""


class ResponseCache:
    """The router's response cache over one backend (see the module's docstring)."""

    def __init__(self, backend: Cache | MemoryCache, options: CacheOptions | None = None) -> None:
        opts = options or CacheOptions()
        self.backend = backend
        self.default_ttl_s = opts.default_ttl_s
        self.by_default = opts.cache_by_default
        self._memory = backend if isinstance(backend, MemoryCache) else None
        self._entries: OrderedDict[int, tuple[Hashable, Any, int, float]] = (
            OrderedDict() if self._memory is None else self._memory._entries
        )  # the memory cache's own map (``probe`` reads it directly)
        self.probes = type(backend) is MemoryCache
        """Whether :meth:`probe` may be used (the memory cache itself, not a subclass that
        may look up its own way)."""
        self._key = _sha_key_hash if self._memory is None else memory_key_hash
        # hash(key) -> the key of the request leading its flight (that very object: a flight
        # is landed by its leader alone), and the future its waiters share (made by the
        # first waiter, so a miss nobody waits on costs no future)
        self._flights: dict[int, MemoryKey] = {}
        self._futures: dict[int, asyncio.Future[CachedReply | None]] = {}
        self._writes: set[asyncio.Task[None]] = set()
        self._unwritten: dict[str, CachedReply] = {}  # key -> a reply its write has not stored
        self._warned: dict[str, tuple[float, int]] = {}
        self.hits = 0
        self.misses = 0
        self.errors = 0
        """Backend failures and bad values (each was a miss or a lost write)."""
        self.saved_cost = 0.0
        self.waiting = 0
        """Requests waiting for an identical one's reply right now (single flight)."""

    def __repr__(self) -> str:
        return f"ResponseCache({self.backend!r}, hits={self.hits}, misses={self.misses})"

    async def open(self) -> None:
        opener = getattr(self.backend, "open", None)
        if callable(opener):
            await opener()

    async def aclose(self) -> None:
        """Finish the stores under way, then close the backend."""
        if self._writes:
            await asyncio.gather(*self._writes, return_exceptions=True)
        for h, key in list(self._flights.items()):
            self._land_key(h, key, None)
        closer = getattr(self.backend, "aclose", None)
        if callable(closer):
            await closer()

    # -- the request's path ------------------------------------------------------------------

    def begin(self, request: ProviderRequest, route: str, model: str | None) -> Lookup | None:
        """How ``request`` uses the cache, or None when it does not (no ``cache`` field and
        ``cacheByDefault`` off, or ``mode: off``)."""
        opts = request.cache
        if opts is None:
            if not self.by_default:
                return None
            key, h = self._key(request, route, model)
            return Lookup(key, self.default_ttl_s, True, True, h)
        mode = opts.mode
        if mode == "off":
            return None
        ttl = self.default_ttl_s if opts.ttl_s is None else opts.ttl_s
        key, h = self._key(request, route, model)
        return Lookup(key, ttl, mode != "write", mode != "read", h)

    def probe(
        self, request: ProviderRequest, route: str, model: str | None
    ) -> CachedReply | Ticket | object | None:
        """The memory cache's lookup in one call (no :class:`Lookup`): None when ``request``
        does not use the cache (as :meth:`begin`), a hit's :class:`CachedReply`, a miss's
        :data:`Ticket` when the request writes (hand it to :meth:`store` or :meth:`drop`) or
        :data:`MISS` when it does not, or :data:`WAIT` when an identical request's flight is
        under way (then :meth:`begin` and :meth:`fetch` wait for it). Misses and hits are
        counted as :meth:`fetch` counts them. ``CacheStep.lookup_now`` asks it."""
        opts = request.__dict__["cache"]
        if opts is None:
            if not self.by_default:
                return None
            ttl, mode = self.default_ttl_s, "read_write"
        else:
            mode = opts.mode
            if mode == "off":
                return None
            ttl = self.default_ttl_s if opts.ttl_s is None else opts.ttl_s
        key, h = memory_key_hash(request, route, model)
        flights = self._flights
        if mode != "write":
            entries = self._entries
            entry = entries.get(h)  # MemoryCache.lookup, inlined
            if entry is not None and entry[0] == key:
                memory = self._memory
                assert memory is not None
                if entry[3] > memory._clock():
                    entries.move_to_end(h)
                    hit = self._hit(entry[1])
                    if hit is not None:
                        return hit
                    return MISS if mode == "read" else (key, h, ttl, False)  # a bad value
                memory.lookup(key, h)  # expired: dropped
            if h in flights and flights[h] == key:
                return WAIT
        self.misses += 1
        if mode == "read":
            return MISS
        if h in flights:
            return (key, h, ttl, False)
        flights[h] = key
        return (key, h, ttl, True)

    def store(
        self, ticket: Ticket, response: ProviderResponse, chunks: Sequence[ReplyChunk] | None
    ) -> None:
        """:meth:`complete` for :meth:`probe`'s miss."""
        key, h, ttl, leads = ticket
        reply = None
        d = response.__dict__
        if d["finish_reason"] != "content_filter" and not d["cached"]:
            if d["tool_calls"] or d["metadata"] is not None:
                reply = CachedReply.of(response, chunks)  # copies them first
            else:
                reply = CachedReply(response, chunks)
            memory = self._memory
            assert memory is not None
            size = reply.size
            if size <= memory.max_bytes:  # MemoryCache.keep, inlined
                entries = self._entries
                old = entries.pop(h, None)
                if old is not None:
                    memory.bytes -= old[2]
                entries[h] = (key, reply, size, memory._clock() + ttl)
                memory.bytes += size
                if len(entries) > memory.max_entries or memory.bytes > memory.max_bytes:
                    memory._evict()
        if leads:  # _land_key, inlined: most flights had no waiter
            flights = self._flights
            if flights.get(h) is key:
                del flights[h]
                if self._futures:
                    self._land_waiters(h, reply)

    def _land_waiters(self, h: int, reply: CachedReply | None) -> None:
        flight = self._futures.pop(h, None)
        if flight is not None and not flight.done():
            flight.set_result(reply)

    def drop(self, ticket: Ticket) -> None:
        """:meth:`abandon` for :meth:`probe`'s miss."""
        if ticket[3]:
            self._land_key(ticket[1], ticket[0], None)

    def fetch_now(self, lookup: Lookup) -> CachedReply | object | None:
        """:meth:`fetch` without awaiting, for the memory cache: a hit, None (a miss), or
        :data:`WAIT` when only :meth:`fetch` can answer (another backend; a flight to wait
        for)."""
        memory = self._memory
        if memory is None:
            return WAIT
        h = lookup.h
        flights = self._flights
        if lookup.reads:
            reply = memory.lookup(lookup.key, h)
            if reply is not None:
                return self._hit(reply)
            if h in flights and flights[h] == lookup.key:
                return WAIT
        self.misses += 1
        if lookup.writes and h not in flights:
            flights[h] = lookup.key
            lookup.leads = True
        return None

    async def fetch(self, lookup: Lookup) -> CachedReply | None:
        """A stored reply for ``lookup`` (a hit), or None (a miss: the caller asks the
        provider, then calls :meth:`complete` or :meth:`abandon`)."""
        key = lookup.key
        h = lookup.h
        if lookup.reads:
            memory = self._memory
            if memory is not None:
                reply = memory.lookup(key, h)
            else:  # a reply still being written is served from here
                sha = cast(str, key)  # another backend's lookups carry cache_key's text
                reply = self._unwritten.get(sha) or await self._read(sha)
            if reply is not None:
                return self._hit(reply)
            leader = self._flights.get(h)
            if leader is not None and leader == key:
                reply = await self._wait(h)
                if reply is not None:
                    return self._hit(reply)
                self.misses += 1
                return None  # the leader failed: go on alone
        self.misses += 1
        if lookup.writes and h not in self._flights:
            self._flights[h] = key
            lookup.leads = True
        return None

    async def _wait(self, h: int) -> CachedReply | None:
        """Wait for the reply of the flight under ``h`` (None when it failed). The future is
        made by the first waiter, so a miss nobody waits on costs no future."""
        flight = self._futures.get(h)
        loop = asyncio.get_running_loop()
        if flight is None:
            flight = self._futures[h] = loop.create_future()
        elif flight.get_loop() is not loop:  # a router used from two loops: no waiting
            return None
        self.waiting += 1
        try:
            return await asyncio.shield(flight)
        finally:
            self.waiting -= 1

    def _hit(self, reply: Any) -> CachedReply | None:
        if type(reply) is not CachedReply:  # someone else's value in our memory cache
            self._warn("bad value", CacheDataError(f"a {type(reply).__name__} in the cache"))
            self.misses += 1
            return None
        self.hits += 1
        cost = reply.cost
        if cost:
            self.saved_cost += cost
        return reply

    def complete(
        self,
        lookup: Lookup,
        response: ProviderResponse,
        chunks: Sequence[ReplyChunk] | None = None,
    ) -> None:
        """The provider's complete reply to a request that missed: store it (when the request
        writes and the reply is storable) and hand it to the flight's waiters."""
        reply = None
        d = response.__dict__
        if lookup.writes and d["finish_reason"] != "content_filter" and not d["cached"]:
            if d["tool_calls"] or d["metadata"] is not None:
                reply = CachedReply.of(response, chunks)  # copies them first
            else:
                reply = CachedReply(response, chunks)
            memory = self._memory
            if memory is not None:
                memory.keep(lookup.key, reply, reply.size, lookup.ttl_s, lookup.h)
            else:
                self._write_behind(cast(str, lookup.key), reply, lookup.ttl_s)
        if lookup.leads:
            self._land(lookup, reply)

    def abandon(self, lookup: Lookup) -> None:
        """The request that missed did not complete (failed, cancelled, cut): its waiters go
        on by themselves. Idempotent, and a no-op after :meth:`complete`."""
        self._land(lookup, None)

    def _land(self, lookup: Lookup, reply: CachedReply | None) -> None:
        if lookup.leads:
            lookup.leads = False
            self._land_key(lookup.h, lookup.key, reply)

    def _land_key(self, h: int, key: MemoryKey, reply: CachedReply | None) -> None:
        """The flight led by ``key`` (that object) ends: its waiters get ``reply``."""
        flights = self._flights
        if flights.get(h) is key:  # else another key's flight (the same hash), or none
            del flights[h]
            self._land_waiters(h, reply)

    # -- a backend that is not in memory -----------------------------------------------------

    async def _read(self, key: str) -> CachedReply | None:
        try:
            value = await self.backend.get(key)
        except Exception as exc:  # down, timed out, a wrong type under the key
            self._warn("read failed", exc)
            return None
        if value is None:
            return None
        try:
            return CachedReply.from_bytes(value)
        except CacheDataError as exc:
            self._warn("bad value", exc)
            return None

    def _write_behind(self, key: str, reply: CachedReply, ttl_s: float) -> None:
        self._unwritten[key] = reply
        task = asyncio.get_running_loop().create_task(self._write(key, reply, ttl_s))
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def _write(self, key: str, reply: CachedReply, ttl_s: float) -> None:
        try:
            await self.backend.set(key, reply.to_bytes(), ttl_s)
        except Exception as exc:
            self._warn("write failed", exc)
        finally:
            if self._unwritten.get(key) is reply:
                del self._unwritten[key]

    def _warn(self, what: str, exc: BaseException) -> None:
        self.errors += 1
        now = time.monotonic()
        last, skipped = self._warned.get(what, (-_WARN_EVERY_S, 0))
        if now - last < _WARN_EVERY_S:
            self._warned[what] = (last, skipped + 1)
            return
        self._warned[what] = (now, 0)
        more = f" ({skipped} more since the last warning)" if skipped else ""
        log.warning(
            "response cache %r: %s, served as a miss%s: %s",
            self.backend,
            what,
            more,
            redact(f"{type(exc).__name__}: {exc}"),
        )


def _sha_key_hash(request: ProviderRequest, route: str, model: str | None) -> tuple[str, int]:
    key = cache_key(request, route, model)
    return key, hash(key)


def open_cache(spec: object, options: CacheOptions | None = None) -> ResponseCache:
    """The cache ``Router(..., cache=spec)`` asks for: ``"memory"``, a ``sqlite:///`` URL, a
    ``redis://`` (``rediss://``, ``unix://``) URL, or a :class:`Cache` object."""
    opts = options or CacheOptions()
    if isinstance(spec, str):
        if spec == "memory":
            return ResponseCache(MemoryCache(opts.max_entries, opts.max_bytes), opts)
        if spec.startswith("sqlite://"):
            from automatosx.cache._sqlite import SQLiteCache

            return ResponseCache(SQLiteCache.from_url(spec), opts)
        if spec.startswith(("redis://", "rediss://", "unix://")):
            from automatosx.cache._redis import RedisCache

            return ResponseCache(RedisCache(spec), opts)
        scheme = spec.split("://")[0] if "://" in spec else spec[:20]
        raise ConfigurationError(
            f"cache: {scheme!r} is not a cache; use 'memory', 'sqlite:///path.db', "
            "'redis://host:6379/0' or a Cache object (async get(key) and set(key, value, ttl_s))"
        )
    if isinstance(spec, (MemoryCache, Cache)):
        return ResponseCache(spec, opts)
    raise TypeError(
        f"cache: expected 'memory', a sqlite:/// or redis:// URL, or a Cache object (async "
        f"get(key) and set(key, value, ttl_s)), got {type(spec).__name__}"
    )
