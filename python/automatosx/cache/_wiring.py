"""What ``Router(..., cache=...)`` and ``RouterOptions.stickyRouting`` add to a router, built
here so the router stays a lifecycle: at construction the cache argument is checked
(:func:`~automatosx.cache._front.open_cache`); at ``open()`` the cache is opened and becomes a
pre-request step (``_step.py``), sticky routing becomes each group's balancer wrapper and an
observer (``_sticky_routing.py``), shared through the router's Redis when it has ``shared=``;
at ``aclose()`` both are closed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from automatosx.cache._front import ResponseCache, open_cache
from automatosx.cache._step import CacheStep
from automatosx.cache._sticky import StickyMap
from automatosx.cache._sticky_routing import StickyBalancer, StickyObserver, StickyRouting
from automatosx.observe import Observer
from automatosx.schemas import RouterOptions

if TYPE_CHECKING:
    from automatosx._routing.before import PreRequest
    from automatosx.cache._sticky_shared import SharedStickyMap

__all__ = ["CacheWiring"]


class CacheWiring:
    """The response cache and sticky routing of one router."""

    def __init__(self, cache: object, options: RouterOptions) -> None:
        self.cache: ResponseCache | None = (
            None if cache is None else open_cache(cache, options.cache)
        )
        self.sticky_options = options.sticky_routing
        self.step: CacheStep | None = None
        self.sticky: StickyRouting | None = None
        self._shared_map: SharedStickyMap | None = None

    async def open(
        self, deployments: Mapping[str, Any], shared: Any, telemetry: Observer | None
    ) -> None:
        groups = {name: dep.group for name, dep in deployments.items()}
        if self.cache is not None:
            await self.cache.open()
            self.step = CacheStep(self.cache, groups, _counter(telemetry, self.cache.backend))
        opts = self.sticky_options
        if opts is not None:
            local = StickyMap(opts.ttl_s, opts.max_entries)
            if shared is not None:
                from automatosx.cache._sticky_shared import SharedStickyMap

                self._shared_map = SharedStickyMap(shared.url, local, prefix=shared.prefix)
                await self._shared_map.open()
            self.sticky = StickyRouting(opts, self._shared_map)

    @property
    def before(self) -> list[PreRequest]:
        return [] if self.step is None else [self.step]

    def observers(self, others: list[Observer]) -> list[Observer]:
        """The router's observers: ``others`` (the store, telemetry, the user's), after
        sticky routing's, which marks ``followed_pin`` before they record an attempt; only
        when someone records attempts (alone it would make every request pay for the
        observers' events)."""
        if self.sticky is None or not others:
            return others
        return [StickyObserver(self.sticky), *others]

    def balancer(self, group: str, inner: Any) -> Any:
        """``group``'s balancer, with its pins first when sticky routing is on."""
        return inner if self.sticky is None else StickyBalancer(inner, self.sticky, group)

    async def prefetch(self, request: Any, groups: Sequence[tuple[str, Any]]) -> None:
        if self.sticky is not None:
            await self.sticky.prefetch(request, groups)

    @property
    def fetches(self) -> bool:
        """Whether pins may have to be fetched before candidates are chosen (a fleet's map,
        while this process's copy of it may be incomplete)."""
        shared = self._shared_map
        return shared is not None and shared.warming

    async def aclose(self) -> None:
        try:
            if self._shared_map is not None:
                await self._shared_map.aclose()
        finally:
            if self.cache is not None:
                await self.cache.aclose()


def _counter(telemetry: Observer | None, backend: object) -> Callable[[bool], None] | None:
    """The telemetry's cache counters, labelled with the backend's kind, if it counts them."""
    looked_up = getattr(telemetry, "cache_looked_up", None)
    if looked_up is None:
        return None
    kind = {"MemoryCache": "memory", "SQLiteCache": "sqlite", "RedisCache": "redis"}.get(
        type(backend).__name__, "custom"
    )

    def count(hit: bool) -> None:
        looked_up(hit, kind)

    return count
