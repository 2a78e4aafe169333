"""The response cache as the router's pre-request step (``_routing/before.py``).

Between intake and the attempt loop, :meth:`CacheStep.lookup` keys the request — its route is
the *group* of the deployment it was routed to, so every deployment of a group shares entries
— and answers a hit: the stored reply as a response marked ``cached`` (``cost`` 0,
``savedCost`` what it cost), or for a stream its chunks. A miss by a request that may write is
remembered by request id until the router tells how it ended: :meth:`completed` (stored, and
handed to the requests waiting for it) or :meth:`abandoned` (they go on by themselves).

The memory cache answers in one call (``ResponseCache.probe``: the key, the LRU's probe and
the flight's registration), its miss remembered as a tuple (a :data:`Ticket`), not a
:class:`Lookup`; a request that must wait for an identical one's flight takes the general
path (``begin``/``fetch``).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping, Sequence

from automatosx._routing.before import Answer
from automatosx.cache._entry import CachedReply
from automatosx.cache._front import MISS, WAIT, Lookup, ResponseCache, Ticket
from automatosx.schemas import ProviderRequest, ProviderResponse

__all__ = ["CacheStep"]

_clock = time.perf_counter_ns
_tuple_new = tuple.__new__


class CacheStep:
    """The router's response cache step: ``lookup``, ``completed``, ``abandoned``."""

    __slots__ = ("_groups", "_leading", "cache", "count")

    def __init__(
        self,
        cache: ResponseCache,
        groups: Mapping[str, str],
        count: Callable[[bool], None] | None = None,
    ) -> None:
        self.cache = cache
        self._groups = groups  # deployment id -> its group
        self._leading: dict[str, Lookup | Ticket] = {}  # request id -> its miss, until it ends
        self.count = count
        """Told of each lookup (True: a hit): the telemetry's cache counters."""

    async def lookup(self, request: ProviderRequest, stream: bool) -> Answer | None:
        found = self.lookup_now(request, stream)
        if found is None or isinstance(found, Answer):
            return found
        return await found

    def lookup_now(
        self, request: ProviderRequest, stream: bool
    ) -> Answer | Awaitable[Answer | None] | None:
        """:meth:`lookup` without a coroutine when the backend answers at once (the memory
        cache): an answer, None, or an awaitable of either."""
        d = request.__dict__
        cache = self.cache
        if d["cache"] is None and not cache.by_default:  # it does not use the cache
            return None
        started = _clock()
        provider = d["provider"] or ""
        route = self._groups.get(provider, provider)
        if cache.probes:
            found = cache.probe(request, route, d["model"])
            if found is None:
                return None
            count = self.count
            if type(found) is tuple:  # a miss that writes
                self._leading[d["request_id"]] = found
            elif found is WAIT:  # an identical request's flight: wait for it
                lookup = cache.begin(request, route, d["model"])
                assert lookup is not None
                return self._fetch(request, stream, lookup, started)
            elif found is not MISS:
                if count is not None:
                    count(True)
                assert isinstance(found, CachedReply)
                response = found.served(d["request_id"], (_clock() - started) // 1_000_000)
                # Answer(response, chunks, "cache") without its Python-level __new__
                return _tuple_new(Answer, (response, found.items() if stream else None, "cache"))
            if count is not None:
                count(False)
            return None
        lookup = cache.begin(request, route, d["model"])
        if lookup is None:
            return None
        reply = cache.fetch_now(lookup)  # the memory cache answers without a coroutine
        if reply is WAIT:
            return self._fetch(request, stream, lookup, started)
        count = self.count
        if count is not None:
            count(reply is not None)
        if reply is None:
            if lookup.writes:
                self._leading[d["request_id"]] = lookup
            return None
        assert isinstance(reply, CachedReply)
        response = reply.served(d["request_id"], (_clock() - started) // 1_000_000)
        return Answer(response, reply.items() if stream else None, "cache")

    async def _fetch(
        self, request: ProviderRequest, stream: bool, lookup: Lookup, started: int
    ) -> Answer | None:
        reply = await self.cache.fetch(lookup)
        count = self.count
        if count is not None:
            count(reply is not None)
        if reply is None:
            if lookup.writes:
                self._leading[request.request_id] = lookup
            return None
        response = reply.served(request.request_id, (_clock() - started) // 1_000_000)
        return Answer(response, reply.items() if stream else None, "cache")

    async def completed(
        self, request: ProviderRequest, response: ProviderResponse, chunks: Sequence[str] | None
    ) -> None:
        self.completed_now(request, response, chunks)

    def completed_now(
        self, request: ProviderRequest, response: ProviderResponse, chunks: Sequence[str] | None
    ) -> None:
        """:meth:`completed`, synchronously (storing never awaits: a backend that is not in
        memory is written behind)."""
        lookup = self._leading.pop(request.request_id, None)
        if lookup is not None:
            kept = None if chunks is None else CachedReply.chunks_of(chunks, response)
            if isinstance(lookup, tuple):
                self.cache.store(lookup, response, kept)
            else:
                self.cache.complete(lookup, response, kept)

    def abandoned(self, request: ProviderRequest) -> None:
        lookup = self._leading.pop(request.request_id, None)
        if lookup is not None:
            if isinstance(lookup, tuple):
                self.cache.drop(lookup)
            else:
                self.cache.abandon(lookup)
