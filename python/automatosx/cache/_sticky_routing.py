"""Sticky routing as the router uses it: a request's pin key within its group, the pinned
deployment (this process's map, or the fleet's through Redis), the group's order with the pin
first, and the deployment that answered (the pin from then on). See ``_sticky.py``."""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import TypeVar

from automatosx.cache._sticky import StickyMap, pin_key
from automatosx.cache._sticky_shared import SharedStickyMap
from automatosx.schemas import ProviderRequest, StickyRoutingOptions

__all__ = ["StickyRouting"]

M = TypeVar("M")


class StickyRouting:
    """The router's sticky routing: a request's pin key in its group, the pinned deployment
    (local map, or the fleet's through Redis), the group's order with the pin first, and
    what served it (which becomes the pin)."""

    __slots__ = ("local", "options", "shared")

    def __init__(self, options: StickyRoutingOptions, shared: SharedStickyMap | None = None):
        self.options = options
        self.shared = shared
        self.local = (
            shared.local if shared is not None else StickyMap(options.ttl_s, options.max_entries)
        )

    def key(self, request: ProviderRequest, group: str) -> str | None:
        pin = pin_key(request, self.options)
        return None if pin is None else f"{group}:{pin}"

    async def pinned(self, key: str, members: Collection[str]) -> str | None:
        """The deployment ``key`` is pinned to, if it is one of ``members``."""
        if self.shared is not None:
            return await self.shared.get(key, members)
        found = self.local.get(key)
        return found if found is None or found in members else None

    def served(self, key: str, deployment: str) -> None:
        """``deployment`` answered a request of ``key``: it is the pin now."""
        if self.shared is not None:
            self.shared.set(key, deployment)
        else:
            self.local.set(key, deployment)

    @staticmethod
    def first(order: list[M], pinned: str | None, name: Callable[[M], str]) -> tuple[list[M], bool]:
        """``order`` with the pinned member moved to the front; whether one was."""
        if pinned is None:
            return order, False
        for i, member in enumerate(order):
            if name(member) == pinned:
                if i:
                    order = [member, *order[:i], *order[i + 1 :]]
                return order, True
        return order, False
