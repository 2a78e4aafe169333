"""What the fleet tells a process, read as untrusted input: the breaker and cool-down keys'
time-to-live and the messages on ``<prefix>events``.

Anything under the prefix may have been written by someone else (another version, a typo in
``redis-cli``, a hostile client), so nothing read here is trusted: a key with no time-to-live
is given the one a router would have written, an opening lasts at most this process's own
breaker timeout, a cool-down at most ``MAX_COOL_MS``, and a message that is not exactly
``<sender> <kind> <ms> <deployment>`` (UTF-8, ASCII digits) is ignored.
"""

from __future__ import annotations

from collections.abc import Mapping

from automatosx._core import monotonic_ms
from automatosx.shared._lease import SharedGuard

__all__ = ["MAX_COOL_MS", "STATE_KEYS", "apply", "cool", "reconcile", "ttl_for"]

MAX_COOL_MS = 600_000
"""The longest cool-down read from the fleet (a key's TTL or a message): ten minutes."""

STATE_KEYS = ("open", "tripped", "cool", "probe")
"""A deployment's breaker and cool-down keys, in the order :func:`reconcile` reads them."""


def ttl_for(g: SharedGuard, suffix: str) -> int:
    """The time-to-live (ms) a router gives the state key ``suffix`` of ``g``."""
    if suffix == "tripped":
        return g.reset_ms * 4 + 60_000
    if suffix == "probe":
        return g.probe_ttl_ms
    return g.reset_ms if suffix == "open" else MAX_COOL_MS


def reconcile(g: SharedGuard, open_ttl: int, tripped_ttl: int, cool_ttl: int) -> None:
    """Bring ``g`` in line with the keys' TTLs (ms; -2: no key, -1: a key with no TTL)."""
    if open_ttl > 0:
        if not g.tripped or g.open_until_ms == 0:
            g.trip(min(open_ttl, g.reset_ms))
    elif tripped_ttl != -2:
        if not g.tripped:
            g.trip(0)
    elif g.tripped and not g.probing:
        g.untrip()
    if cool_ttl > 0:
        cool(g, cool_ttl)


def cool(g: SharedGuard, ms: int) -> None:
    g.cooled_until_ms = max(g.cooled_until_ms, monotonic_ms() + min(ms, MAX_COOL_MS))


def apply(guards: Mapping[str, SharedGuard], own_id: str, message: object) -> bool:
    """Apply one message from the channel; False when it was malformed (and ignored)."""
    data = message.get("data") if isinstance(message, dict) else None
    if isinstance(data, bytes):
        data = data.decode("utf-8", "replace")
    if not isinstance(data, str):
        return False
    parts = data.split(" ", 3)
    if len(parts) != 4:
        return False
    sender, kind, ms_text, name = parts
    if not (ms_text.isascii() and ms_text.isdigit() and len(ms_text) <= 12):
        return False
    g = guards.get(name)
    if g is None or sender == own_id:
        return True  # well formed: not ours to apply
    ms = int(ms_text)
    if kind == "open":
        g.trip(min(ms, g.reset_ms))
    elif kind == "close":
        g.untrip()
    elif kind == "cool":
        cool(g, ms)
    else:
        return False
    return True
