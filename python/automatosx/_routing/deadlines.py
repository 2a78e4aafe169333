"""Every attempt deadline of one router under one loop timer: :class:`Deadlines`.

An attempt's deadline is an :data:`Entry` (``arm``), dropped when the attempt ends
(``disarm``): two dict operations, where a loop timer per attempt costs a ``TimerHandle``,
a heap push and a cancel (~2 us). Entries are kept in one insertion-ordered dict per
duration, so each dict is ordered by expiry and its first entry is its earliest; the one
loop timer is set for the earliest of those, and re-set only when a new deadline comes
before it (a shorter duration). When it fires, every entry due is expired: the task of a
plain deadline is cancelled with :data:`EXPIRED` and the entry marked (``entry[FIRED]``); a
stream's timer (``watcher``) is asked to ``check`` instead. Precision is the loop's: a
deadline fires at its own time, as its own timer would.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any, Protocol

__all__ = ["EXPIRED", "FIRED", "Deadlines", "Entry"]

EXPIRED = "automatosx: attempt deadline"
"""The cancel message of an expired deadline."""

Entry = list[Any]
"""``[when, task, seconds, watcher, fired]``: a list, the cheapest record to make."""
_WHEN, _TASK, _SECONDS, _WATCHER = 0, 1, 2, 3
FIRED = 4
_INF = math.inf


class Watcher(Protocol):
    def check(self) -> None: ...


class Deadlines:
    """One router's attempt deadlines under one loop timer (bound to the loop of the first
    deadline; a deadline armed under another loop starts afresh there)."""

    __slots__ = ("buckets", "due", "handle", "loop")

    def __init__(self) -> None:
        self.buckets: dict[float, dict[int, Entry]] = {}
        self.loop: asyncio.AbstractEventLoop | None = None
        self.handle: asyncio.TimerHandle | None = None
        self.due = _INF  # when the loop timer fires (inf: not set)

    def arm(self, task: asyncio.Task[Any], seconds: float, watcher: Watcher | None) -> Entry:
        """A deadline ``seconds`` from now for ``task`` (or its ``watcher``)."""
        loop = task.get_loop()
        if loop is not self.loop:
            self._rebind(loop)
        when = loop.time() + seconds
        entry = [when, task, seconds, watcher, False]
        bucket = self.buckets.get(seconds)
        if bucket is None:
            bucket = self.buckets[seconds] = {}
        bucket[id(entry)] = entry
        if when < self.due:
            self._set(loop, when)
        return entry

    def disarm(self, entry: Entry) -> None:
        """The attempt ended before its deadline (or after: then this does nothing)."""
        seconds = entry[_SECONDS]
        bucket = self.buckets.get(seconds)
        if bucket is not None and bucket.pop(id(entry), None) is not None and not bucket:
            del self.buckets[seconds]

    def _set(self, loop: asyncio.AbstractEventLoop, when: float) -> None:
        handle = self.handle
        if handle is not None:
            handle.cancel()
        self.due = when
        self.handle = loop.call_at(when, self._fire)

    def _rebind(self, loop: asyncio.AbstractEventLoop) -> None:
        if self.handle is not None:
            self.handle.cancel()
        self.loop, self.handle, self.due, self.buckets = loop, None, _INF, {}

    def _fire(self) -> None:
        loop = self.loop
        assert loop is not None
        limit = max(loop.time(), self.due)  # the loop fires a timer when it is due
        self.handle, self.due = None, _INF
        due: list[Entry] = []
        following = _INF
        buckets = self.buckets
        for seconds, bucket in list(buckets.items()):
            while bucket:
                key = next(iter(bucket))
                entry = bucket[key]
                if entry[_WHEN] > limit:
                    following = min(following, entry[_WHEN])
                    break
                del bucket[key]
                due.append(entry)
            if not bucket:
                del buckets[seconds]
        if following < self.due:
            self._set(loop, following)
        for entry in due:
            watcher = entry[_WATCHER]
            if watcher is not None:
                watcher.check()
            else:
                entry[FIRED] = True
                entry[_TASK].cancel(EXPIRED)
