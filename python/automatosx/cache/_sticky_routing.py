"""Sticky routing in the router: the pinned deployment first in its group's order, whether an
attempt followed a pin, and the deployment that answered becoming the pin.

* :class:`StickyBalancer` wraps a group's balancer (``Plan.build(..., pins=...)``): for a
  request with a pin key (``_sticky.pin_key``) pinned to a member of the group, that member
  goes first and the others follow in their configured order (the balancer is not asked, so
  its weighted round robin spreads only new conversations); otherwise the balancer decides.
  A pinned deployment passed over (open breaker, cool-down, limiter, budget) or failing
  yields to the next candidate like any other.
* :class:`StickyObserver` marks an attempt at the pinned deployment ``followed_pin`` when it
  starts, and makes the deployment of a successful attempt the pin when it ends.
* With ``Router(..., shared=...)``, :meth:`StickyRouting.prefetch` asks the fleet's map
  (``_sticky_shared.py``) before the candidates are chosen: the only await, and only on a
  local miss or a pin not confirmed for 10 s.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from automatosx.cache._sticky import StickyMap, pin_key
from automatosx.cache._sticky_shared import SharedStickyMap
from automatosx.observe import AttemptInfo, Observer, RequestEnd, RequestInfo
from automatosx.schemas import ProviderRequest, StickyRoutingOptions

__all__ = ["StickyBalancer", "StickyObserver", "StickyRouting"]

_MAX_NOTES = 100_000  # requests under way whose pins are remembered (a bound, not a limit)


class StickyRouting:
    """The router's sticky routing: pin keys, the map (local or the fleet's), and what each
    request under way was pinned to (``notes``: request id -> {group: (key, pinned)})."""

    __slots__ = ("_last", "local", "notes", "options", "shared")

    def __init__(self, options: StickyRoutingOptions, shared: SharedStickyMap | None = None):
        self.options = options
        self.shared = shared
        self.local = (
            shared.local if shared is not None else StickyMap(options.ttl_s, options.max_entries)
        )
        self.notes: dict[str, dict[str, tuple[str, str | None]]] = {}
        self._last: tuple[object, str | None] = (None, None)  # (a request, its pin key)

    def pin(self, request: ProviderRequest) -> str | None:
        """The request's pin key (hashing a long system prompt costs: kept while the request
        is in intake — its prefetch, then each group's order — and forgotten when it starts,
        so a request object changed and sent again is hashed again)."""
        last = self._last
        if last[0] is request:
            return last[1]
        pin = pin_key(request, self.options)
        self._last = (request, pin)
        return pin

    def forget_pin(self) -> None:
        self._last = (None, None)

    def key(self, request: ProviderRequest, group: str) -> str | None:
        """The request's pin key in ``group`` (None: not pinned)."""
        pin = self.pin(request)
        return None if pin is None else f"{group}:{pin}"

    async def pinned(self, key: str, members: Collection[str]) -> str | None:
        """The deployment ``key`` is pinned to, if it is one of ``members``."""
        if self.shared is not None:
            return await self.shared.get(key, members)
        found = self.local.get(key)
        return found if found is None or found in members else None

    async def served(self, key: str, deployment: str, pinned: str | None = None) -> None:
        """``deployment`` answered a request of ``key`` that was pinned to ``pinned``: it is
        the pin now. In a fleet a new or moved pin is written through at once."""
        shared = self.shared
        if shared is None:
            self.local.set(key, deployment)
        elif deployment == pinned:
            shared.set(key, deployment)  # followed: refreshed, in the background when due
        else:
            await shared.pin(key, deployment, replace=pinned is not None)

    async def prefetch(self, request: ProviderRequest, groups: Sequence[tuple[str, Any]]) -> None:
        """Bring the fleet's pins of ``request`` in its multi-deployment ``groups`` (label,
        members) into the local map before the candidates are chosen."""
        if self.shared is None:
            return
        pin = self.pin(request)
        if pin is None:
            return
        for group, members in groups:
            if len(members) > 1:
                await self.shared.get(f"{group}:{pin}", {m.name for m in members})

    def note(self, request_id: str, group: str, key: str, pinned: str | None) -> None:
        notes = self.notes
        if len(notes) >= _MAX_NOTES and request_id not in notes:
            notes.clear()  # requests that never finished (a router used without observers)
        notes.setdefault(request_id, {})[group] = (key, pinned)


class StickyBalancer:
    """A group's balancer with its pins first (see the module's docstring)."""

    __slots__ = ("group", "inner", "sticky")

    def __init__(self, inner: Any, sticky: StickyRouting, group: str) -> None:
        self.inner = inner
        self.sticky = sticky
        self.group = group

    def order(self, group: Sequence[Any], request: ProviderRequest | None = None) -> list[Any]:
        if request is None:
            return list(self.inner.order(group, request))
        sticky = self.sticky
        key = sticky.key(request, self.group)
        if key is None:
            return list(self.inner.order(group, request))
        pinned = sticky.local.peek(key)
        if pinned is not None:
            for i, member in enumerate(group):
                if member.name == pinned:
                    sticky.note(request.request_id, self.group, key, pinned)
                    return [member, *group[:i], *group[i + 1 :]]
        sticky.note(request.request_id, self.group, key, None)
        return list(self.inner.order(group, request))

    def observe(self, member: Any, latency_ms: float) -> None:
        self.inner.observe(member, latency_ms)


class StickyObserver(Observer):
    """Records whether each attempt followed a pin; a successful attempt's deployment
    becomes the pin of its request's key in that deployment's group."""

    def __init__(self, sticky: StickyRouting) -> None:
        self.sticky = sticky
        self._groups: dict[str, str] = {}

    def bind_deployments(self, deployments: Mapping[str, Any]) -> None:
        self._groups = {name: dep.group for name, dep in deployments.items()}

    async def request_started(self, request: RequestInfo) -> None:
        self.sticky.forget_pin()

    async def attempt_started(self, request: RequestInfo, attempt: AttemptInfo) -> None:
        notes = self.sticky.notes.get(request.request_id)
        if notes is not None:
            note = notes.get(self._groups.get(attempt.provider, ""))
            if note is not None and note[1] == attempt.provider:
                attempt.followed_pin = True

    async def attempt_ended(self, request: RequestInfo, attempt: AttemptInfo) -> None:
        if attempt.outcome != "success" or attempt.error is not None:
            return
        notes = self.sticky.notes.get(request.request_id)
        if notes is not None:
            note = notes.get(self._groups.get(attempt.provider, ""))
            if note is not None:
                await self.sticky.served(note[0], attempt.provider, note[1])

    async def request_finished(self, request: RequestInfo, outcome: RequestEnd) -> None:
        self.sticky.notes.pop(request.request_id, None)
