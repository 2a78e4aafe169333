"""Pins shared by a fleet through Redis: one conversation on one deployment, whichever router
process its turns reach.

No round trip per request where it can be avoided:

* the local :class:`~automatosx.cache._sticky.StickyMap` answers first; a pin Redis confirmed
  less than ``recheck_s`` ago (10 s) is followed without asking Redis;
* on a local miss (or an older pin), one ``GET <prefix>sticky:<key>`` (bounded by
  ``timeout_s``) — the pin another process made wins;
* a new pin is written to Redis at once, before the request returns (``SET ... NX PX ttl``:
  when two processes pin one new conversation at the same time, the first write wins and the
  other process adopts it for the next turn); a pin that moves (its deployment was passed
  over or failed) is written the same way without ``NX``. One round trip per pin made or
  moved, none per request that follows a pin;
* a pin that is followed is re-written when the last write is older than half the TTL, so a
  conversation that continues keeps its pin alive in Redis too: by a background task, off the
  request's path.

Redis down, slow or holding a value that is not a deployment of the group: the process
follows its local pins and the group's balancing (a warning, at most one every 10 s), and
rejoins when Redis answers again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Collection
from typing import Any

from automatosx.cache._sticky import StickyMap
from automatosx.errors import redact

__all__ = ["SharedStickyMap"]

log = logging.getLogger("automatosx.cache")
_WARN_EVERY_S = 10.0
_MAX_PENDING = 10_000


class SharedStickyMap:
    """A :class:`StickyMap` backed by Redis (``redis.asyncio`` client, or a URL: the
    ``redis`` extra). ``get`` is async (it may ask Redis); ``set`` never waits."""

    def __init__(
        self,
        redis: Any,
        local: StickyMap,
        *,
        prefix: str = "automatosx:",
        recheck_s: float = 10.0,
        timeout_s: float = 0.25,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._redis_arg = redis
        self._redis: Any = None if isinstance(redis, str) else redis
        self._owned = isinstance(redis, str)
        self.local = local
        self.prefix = prefix + "sticky:"
        self.recheck_s = recheck_s
        self.timeout_s = timeout_s
        self._clock = clock
        self._checked: dict[str, float] = {}  # key -> when Redis last confirmed it
        self._written: dict[str, float] = {}  # key -> when we last wrote it
        self._pending: dict[str, str] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._warned_at = -_WARN_EVERY_S
        self.errors = 0
        self.round_trips = 0

    async def open(self) -> None:
        if self._redis is None:
            from redis.asyncio import Redis

            self._redis = Redis.from_url(
                self._redis_arg,
                socket_timeout=self.timeout_s,
                socket_connect_timeout=self.timeout_s,
            )
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._writer())

    async def aclose(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            await self._flush()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if self._owned and self._redis is not None:
            await self._redis.aclose()
            self._redis = None

    async def get(self, key: str, members: Collection[str]) -> str | None:
        """The pin of ``key`` among ``members`` (the group's deployment ids), or None."""
        local = self.local.get(key)
        now = self._clock()
        if local is not None and now - self._checked.get(key, -self.recheck_s) < self.recheck_s:
            return local
        try:
            self.round_trips += 1
            raw = await asyncio.wait_for(self._redis.get(self.prefix + key), self.timeout_s)
        except Exception as exc:  # down, slow: follow the local pin
            self._warn(exc)
            return local
        found = _as_member(raw, members)
        if found is None:
            if raw is not None:
                self._warn(ValueError(f"{key}: {raw!r:.80} is not a deployment of the group"))
            if local is not None:
                self._queue(key, local)  # Redis lost it (restart, eviction): put it back
            return local
        self._checked[key] = now
        if found != local:
            self.local.set(key, found)
        return found

    def set(self, key: str, deployment: str) -> None:
        """Pin ``key`` to ``deployment`` here, and in Redis (in the background) when it
        changed or its last write is older than half the TTL."""
        changed = self.local.set(key, deployment)
        now = self._clock()
        if changed or now - self._written.get(key, -1e18) >= self.local.ttl_s / 2:
            self._checked[key] = now
            self._queue(key, deployment)

    async def pin(self, key: str, deployment: str, *, replace: bool) -> str:
        """Make ``deployment`` the pin of ``key`` here and in Redis now; with ``replace``
        False only if the fleet has none (``NX``), else the fleet's pin is adopted. Returns
        the pin in force."""
        self.local.set(key, deployment)
        now = self._clock()
        try:
            self.round_trips += 1
            px = max(1, int(self.local.ttl_s * 1000))
            made = await asyncio.wait_for(
                self._redis.set(self.prefix + key, deployment, px=px, nx=not replace),
                self.timeout_s,
            )
            if not made:
                self.round_trips += 1
                raw = await asyncio.wait_for(self._redis.get(self.prefix + key), self.timeout_s)
                theirs = _as_member(raw, None)
                if theirs is not None:
                    self.local.set(key, theirs)
                    deployment = theirs
        except Exception as exc:  # down, slow: the local pin holds; written back later
            self._warn(exc)
            return deployment
        self._checked[key] = self._written[key] = now
        return deployment

    def _queue(self, key: str, deployment: str) -> None:
        if len(self._pending) < _MAX_PENDING:
            self._pending[key] = deployment
            self._written[key] = self._clock()
            if len(self._written) > 2 * self.local.max_entries:
                self._written.clear()
                self._checked.clear()
            self._wake.set()

    async def _writer(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self._flush()

    async def _flush(self) -> None:
        pending, self._pending = self._pending, {}
        if not pending or self._redis is None:
            return
        px = max(1, int(self.local.ttl_s * 1000))
        try:
            pipe = self._redis.pipeline(transaction=False)
            for key, deployment in pending.items():
                pipe.set(self.prefix + key, deployment, px=px)
            self.round_trips += 1
            await asyncio.wait_for(pipe.execute(), self.timeout_s * 4)
        except Exception as exc:
            self._warn(exc)

    def _warn(self, exc: BaseException) -> None:
        self.errors += 1
        now = self._clock()
        if now - self._warned_at >= _WARN_EVERY_S:
            self._warned_at = now
            log.warning(
                "sticky routing: Redis unavailable or bad data, following local pins: %s",
                redact(f"{type(exc).__name__}: {exc}"),
            )


def _as_member(raw: object, members: Collection[str] | None) -> str | None:
    """A pin read from Redis, if it names one of ``members`` (None: any deployment id)."""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            return None
    if not isinstance(raw, str) or not raw:
        return None
    return raw if members is None or raw in members else None
