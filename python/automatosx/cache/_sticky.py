"""Sticky routing: keep a conversation on the deployment whose prompt cache holds its prefix.

Providers bill a repeated prompt prefix at a tenth of the price or less, but only on the
deployment (key, account, region) that saw it. ``RouterOptions.stickyRouting`` pins the
requests of one conversation to the deployment of their group that served the last one:

* ``key: "prefix"``: the conversation is what stays the same across its turns — the model,
  the system prompt, the tools and the first ``prefixMessages`` messages after the system
  prompt (default 1: the opening user message). Its pin key is a SHA-256 over them, hashed
  from the strings themselves (:func:`prefix_key`), once per request; a map that is not
  shared uses Python's own string hash instead (:func:`local_prefix_key`, several times
  cheaper);
* ``key: "user"`` / ``"tenant"``: the request's ``user`` / ``tenant`` field (a request
  without one is not pinned).

A pin lives ``ttlS`` (300 s) after the last request that followed or made it (a provider's
prompt cache lives about that long). :class:`StickyMap` is the bounded (LRU) map of pins in
one process; ``_sticky_shared.SharedStickyMap`` shares it through Redis for a fleet.
A pin is per group: the map's key is ``<group>:<pin key>`` (a group name has no ``:``).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from automatosx.cache._key import _message, _tool
from automatosx.schemas import ProviderRequest, StickyRoutingOptions

__all__ = ["StickyMap", "local_prefix_key", "opens", "pin_key", "prefix_key"]


def prefix_key(request: ProviderRequest, prefix_messages: int) -> str:
    """The SHA-256 (hex) of what a conversation's turns share: the model, the system
    messages, the first ``prefix_messages`` others, and the tools, hashed in one call over one
    string: each text message as its role, its length and its text, straight from the
    strings; a message with anything else (parts, a name, tool calls) and the tools as their
    length and canonical JSON (the response cache's form, ``cache/_key.py``). Every variable
    part is preceded by its length, so no two prefixes make one string."""
    messages = request.messages
    i = 0
    for m in messages:
        if m.role != "system":
            break
        i += 1
    model = request.model or ""
    parts = [f"{len(model)} {model}"]
    for m in messages[: i + prefix_messages]:
        d = m.__dict__
        content = d["content"]
        if (
            type(content) is str
            and d["tool_calls"] is None
            and d["name"] is None
            and d["tool_call_id"] is None
        ):
            parts.append(f"{d['role']} {len(content)}\n{content}")
        else:
            text = _json(_message(m))
            parts.append(f"j {len(text)}\n{text}")
    tools = request.tools
    if tools is not None:
        text = _json([_tool(t) for t in tools])
        parts.append(f"t {len(text)}\n{text}")
    return hashlib.sha256("\n".join(parts).encode("utf-8", "surrogatepass")).hexdigest()


def local_prefix_key(request: ProviderRequest, prefix_messages: int) -> str:
    """:func:`prefix_key`'s fields under Python's own 64-bit string hash: several times
    cheaper, and enough to tell the conversations of one process apart, but not stable across
    processes (hash randomisation): only for a map that is not shared."""
    messages = request.messages
    i = 0
    for m in messages:
        if m.role != "system":
            break
        i += 1
    parts: list[object] = [request.model]
    for m in messages[: i + prefix_messages]:
        d = m.__dict__
        content = d["content"]
        if (
            type(content) is str
            and d["tool_calls"] is None
            and d["name"] is None
            and d["tool_call_id"] is None
        ):
            parts.append(d["role"])
            parts.append(content)
        else:
            parts.append("j")
            parts.append(_json(_message(m)))
    tools = request.tools
    if tools is not None:
        parts.append("t")
        parts.append(_json([_tool(t) for t in tools]))
    return format(hash(tuple(parts)) & 0xFFFFFFFFFFFFFFFF, "x")


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def opens(request: ProviderRequest, prefix_messages: int) -> bool:
    """Whether ``request`` is its conversation's opening (nothing after its prefix): no
    earlier turn can have been served."""
    messages = request.messages
    n = len(messages)
    i = 0
    while i < n and messages[i].role == "system":
        i += 1
    return n - i <= prefix_messages


def pin_key(
    request: ProviderRequest, options: StickyRoutingOptions, *, stable: bool = True
) -> str | None:
    """The request's pin key (what identifies its conversation), or None: not pinned.
    ``stable``: the same in every process (a fleet's map); else the cheaper hash of one
    process (:func:`local_prefix_key`)."""
    key = options.key
    if key == "prefix":
        n = options.prefix_messages
        return prefix_key(request, n) if stable else local_prefix_key(request, n)
    if key == "user":
        return None if request.user is None else "user:" + request.user
    return None if request.tenant is None else "tenant:" + request.tenant


class StickyMap:
    """Pins in this process: key -> deployment id, least recently used dropped past
    ``max_entries``, each expiring ``ttl_s`` after it was last set or followed."""

    __slots__ = ("_clock", "_pins", "max_entries", "ttl_s")

    def __init__(
        self,
        ttl_s: float = 300.0,
        max_entries: int = 100_000,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._clock = clock
        self._pins: OrderedDict[str, tuple[str, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._pins)

    def get(self, key: str) -> str | None:
        """The live pin of ``key`` (refreshed: it is being followed), or None."""
        pin = self._pins.get(key)
        if pin is None:
            return None
        now = self._clock()
        if pin[1] <= now:
            del self._pins[key]
            return None
        self._pins[key] = (pin[0], now + self.ttl_s)
        self._pins.move_to_end(key)
        return pin[0]

    def peek(self, key: str) -> str | None:
        """The live pin of ``key``, without refreshing it."""
        pin = self._pins.get(key)
        return None if pin is None or pin[1] <= self._clock() else pin[0]

    def set(self, key: str, deployment: str) -> bool:
        """Pin ``key`` to ``deployment`` for ``ttl_s``; True if that changed the pin."""
        pins = self._pins
        old = pins.pop(key, None)
        now = self._clock()
        pins[key] = (deployment, now + self.ttl_s)
        if len(pins) > self.max_entries:
            pins.popitem(last=False)
        return old is None or old[0] != deployment or old[1] <= now

    def forget(self, key: str) -> None:
        self._pins.pop(key, None)
