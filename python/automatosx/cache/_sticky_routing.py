"""Sticky routing in the router: the pinned deployment first in its group's order, whether an
attempt followed a pin, and the deployment that answered becoming the pin.

* :class:`StickyBalancer` wraps a group's balancer (``Plan.build(..., pins=...)``): for a
  request with a pin key (``_sticky.pin_key``, hashed once per request) pinned to a member of
  the group, that member goes first and the others follow in their configured order (the
  balancer is not asked, so its weighted round robin spreads only new conversations);
  otherwise the balancer decides. A pinned deployment passed over (open breaker, cool-down,
  limiter, budget) or failing yields to the next candidate like any other. The router tells
  it which member answered (``observe(member, latency_ms, request)``, called for every reply
  when sticky routing is on): that member becomes the pin. No observer is needed for that,
  so sticky routing alone adds no observer work to a request.
* :class:`StickyObserver` marks an attempt at the pinned deployment ``followed_pin`` when it
  starts; the router adds it only when something records attempts (a store, telemetry,
  observers).
* With ``Router(..., shared=...)`` the pins are the fleet's (``_sticky_shared.py``): nothing
  on a request's path waits for Redis, except :meth:`StickyRouting.prefetch` for a request
  that may continue a conversation this process has not seen, while its copy of the fleet's
  pins may be incomplete (its first ``ttlS`` after joining).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from automatosx._routing.balance import LatencyBalancer
from automatosx.cache._sticky import StickyMap, opens, pin_key
from automatosx.cache._sticky_shared import SharedStickyMap
from automatosx.observe import AttemptInfo, Observer, RequestInfo
from automatosx.schemas import ProviderRequest, StickyRoutingOptions

__all__ = ["StickyBalancer", "StickyObserver", "StickyRouting"]

_MAX_NOTES = 100_000  # requests under way whose pins are remembered (a bound, not a limit)

Note = tuple[str, str | None, str | None]
"""What a group's order was for a request: (pin key, the pin followed, the member claimed
for a new conversation)."""


class StickyRouting:
    """The router's sticky routing: pin keys, the map (local or the fleet's), and each
    group's :class:`StickyBalancer` (whose ``notes`` say what each request under way was
    pinned to)."""

    __slots__ = ("_last", "balancers", "local", "options", "shared")

    def __init__(self, options: StickyRoutingOptions, shared: SharedStickyMap | None = None):
        self.options = options
        self.shared = shared
        self.local = (
            shared.local if shared is not None else StickyMap(options.ttl_s, options.max_entries)
        )
        self.balancers: dict[str, StickyBalancer] = {}
        self._last: tuple[object, str | None] = (None, None)  # (a request, its pin key)

    def pin(self, request: ProviderRequest) -> str | None:
        """The request's pin key, hashed once per request object (its prefetch, then each
        group's order ask for it in turn)."""
        last = self._last
        if last[0] is request:
            return last[1]
        pin = pin_key(request, self.options, stable=self.shared is not None)
        self._last = (request, pin)
        return pin

    def key(self, request: ProviderRequest, group: str) -> str | None:
        """The request's pin key in ``group`` (None: not pinned)."""
        pin = self.pin(request)
        return None if pin is None else f"{group}:{pin}"

    def pinned(self, key: str, members: Mapping[str, Any] | Sequence[str]) -> str | None:
        """The deployment ``key`` is pinned to, if it is one of ``members``."""
        found = self.local.peek(key)
        return found if found is None or found in members else None

    def served(
        self, key: str, deployment: str, pinned: str | None = None, claimed: str | None = None
    ) -> None:
        """``deployment`` answered a request of ``key`` that was pinned to ``pinned`` (or, a
        new conversation, whose group chose ``claimed``): it is the pin now."""
        shared = self.shared
        if shared is None:
            self.local.set(key, deployment)
        else:
            shared.served(key, deployment, pinned, claimed)

    def may_continue(self, request: ProviderRequest) -> bool:
        """Whether ``request`` may continue a conversation served before (not an opening)."""
        opts = self.options
        return opts.key != "prefix" or not opens(request, opts.prefix_messages)

    async def prefetch(self, request: ProviderRequest, groups: Sequence[tuple[str, Any]]) -> None:
        """Bring the fleet's pins of ``request`` in its multi-deployment ``groups`` (label,
        members) into the local map before the candidates are chosen, when they may be
        missing from it (see the module's docstring)."""
        shared = self.shared
        if shared is None or not shared.warming:
            return
        pin = self.pin(request)
        if pin is None or not self.may_continue(request):
            return
        for group, members in groups:
            if len(members) > 1:
                await shared.fetch(f"{group}:{pin}", {m.name for m in members})


class StickyBalancer:
    """A group's balancer with its pins first (see the module's docstring)."""

    __slots__ = ("group", "inner", "notes", "prefix", "samples", "sticky")

    def __init__(self, inner: Any, sticky: StickyRouting, group: str) -> None:
        self.inner = inner
        self.sticky = sticky
        self.group = group
        self.prefix = group + ":"
        self.samples = isinstance(inner, LatencyBalancer)  # the others ignore latencies
        self.notes: dict[str, Note] = {}
        sticky.balancers[group] = self

    def order(self, group: Sequence[Any], request: ProviderRequest | None = None) -> list[Any]:
        if request is None:
            return self.inner.order(group, request)  # type: ignore[no-any-return]
        sticky = self.sticky
        pin = sticky.pin(request)
        if pin is None:
            return self.inner.order(group, request)  # type: ignore[no-any-return]
        key = self.prefix + pin
        notes = self.notes
        if len(notes) >= _MAX_NOTES:
            notes.clear()  # requests that never answered (they all failed)
        pinned = sticky.local.peek(key)
        if pinned is not None:
            for i, member in enumerate(group):
                if member.name == pinned:
                    notes[request.request_id] = (key, pinned, None)
                    return [member, *group[:i], *group[i + 1 :]]
        order: list[Any] = self.inner.order(group, request)
        first = order[0].name
        notes[request.request_id] = (key, None, first)
        shared = sticky.shared
        if shared is not None:
            shared.claim(key, first)
        return order

    def observe(
        self, member: Any, latency_ms: float, request: ProviderRequest | None = None
    ) -> None:
        """``member`` answered ``request`` (in ``latency_ms``): it is the request's pin."""
        if self.samples:
            self.inner.observe(member, latency_ms)
        if request is None:
            return
        note = self.notes.pop(request.request_id, None)
        if note is not None:
            self.sticky.served(note[0], member.name, note[1], note[2])
            return
        key = self.sticky.key(request, self.group)  # asked again (e.g. a re-ask)
        if key is not None:
            self.sticky.served(key, member.name)


class StickyObserver(Observer):
    """Records whether each attempt followed a pin."""

    def __init__(self, sticky: StickyRouting) -> None:
        self.sticky = sticky
        self._groups: dict[str, StickyBalancer] = {}

    def bind_deployments(self, deployments: Mapping[str, Any]) -> None:
        balancers = self.sticky.balancers
        self._groups = {
            name: balancers[dep.group]
            for name, dep in deployments.items()
            if dep.group in balancers
        }

    async def attempt_started(self, request: RequestInfo, attempt: AttemptInfo) -> None:
        balancer = self._groups.get(attempt.provider)
        if balancer is not None:
            note = balancer.notes.get(request.request_id)
            if note is not None and note[1] == attempt.provider:
                attempt.followed_pin = True
