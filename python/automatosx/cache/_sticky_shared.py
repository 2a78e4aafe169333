"""Pins shared by a fleet through Redis: one conversation on one deployment, whichever router
process its turns reach, and no Redis round trip on a request's path.

Every process keeps the fleet's pins in its own :class:`~automatosx.cache._sticky.StickyMap`
and routes from it alone. Redis carries what changes, in the background:

* a new conversation's pin is *claimed* as soon as its group chose a deployment, while the
  provider is still being asked: one background task writes it (``SET NX PX ttl``) and
  publishes it on ``<prefix>sticky``; when another process claimed the same key first, the
  claim loses and its pin is adopted here for the next turn. A pin that moves (its
  deployment was passed over or failed) is written and published the same way without
  ``NX``; a pin that is followed is written again once its last write is older than half
  the TTL, so the fleet's copies live as long as the conversation. Writes are batched: one
  pipeline at most every millisecond, whatever the number of requests;
* a listener applies the fleet's messages to the local map, so a turn that reaches another
  process finds its pin there;
* only while this process's copy may be incomplete (its first ``ttlS`` after subscribing, or
  after the subscription was lost) does a request that may continue a conversation unknown
  here ask Redis first (:meth:`SharedStickyMap.fetch`, one ``GET`` bounded by
  ``timeout_s``). An opening turn never asks (no turn of it was served before).

Redis down, slow or holding a value that is not a deployment of the group: the process
follows its local pins and the group's balancing (a warning, at most one every 10 s), and
rejoins when Redis answers again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Collection
from typing import Any

from automatosx.cache._sticky import StickyMap
from automatosx.errors import redact

__all__ = ["SharedStickyMap"]

log = logging.getLogger("automatosx.cache")
_WARN_EVERY_S = 10.0
_MAX_PENDING = 10_000
_BATCH_S = 0.001  # at most one batch a millisecond: a busy process writes many pins at once

PIN = """
-- KEYS[1] the pin; ARGV[1] the deployment, ARGV[2] its ttl in ms, ARGV[3] 1: only if the
-- fleet has none (NX), ARGV[4] the channel, ARGV[5] the message.
-- Returns false when written (and published), else the pin the fleet already has.
if ARGV[3] == '1' then
  if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
    return redis.call('GET', KEYS[1])
  end
else
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
end
redis.call('PUBLISH', ARGV[4], ARGV[5])
return false
"""


class SharedStickyMap:
    """A :class:`StickyMap` shared through Redis (a URL, or a ``redis.asyncio`` client: the
    ``redis`` extra). Nothing here awaits Redis on a request's path but :meth:`fetch`."""

    def __init__(
        self,
        redis: Any,
        local: StickyMap,
        *,
        prefix: str = "automatosx:",
        timeout_s: float = 0.25,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._redis_arg = redis
        self._redis: Any = None if isinstance(redis, str) else redis
        self._owned = isinstance(redis, str)
        self.local = local
        self.prefix = prefix + "sticky:"
        self.channel = prefix + "sticky"
        self.timeout_s = timeout_s
        self._clock = clock
        self.id = uuid.uuid4().hex
        self._written: dict[str, float] = {}  # key -> when the fleet last had it written
        self._pending: dict[str, tuple[str, bool]] = {}  # key -> (deployment, only if new)
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._subscribed_at: float | None = None  # None: not subscribed now
        self._sha: str | None = None  # PIN's, loaded by the first batch
        self._warned_at = -_WARN_EVERY_S
        self.errors = 0
        self.round_trips = 0
        """Round trips to Redis: reads on a request's path and background batches."""
        self.reads = 0
        """Of which reads on a request's path (:meth:`fetch`)."""

    async def open(self) -> None:
        if self._redis is None:
            from redis.asyncio import Redis

            self._redis = Redis.from_url(
                self._redis_arg,
                socket_timeout=self.timeout_s,
                socket_connect_timeout=self.timeout_s,
            )
        if not self._tasks:
            loop = asyncio.get_running_loop()
            self._tasks = [loop.create_task(self._writer()), loop.create_task(self._listen())]

    async def aclose(self) -> None:
        tasks, self._tasks = self._tasks, []
        if tasks:
            await self._flush()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._owned and self._redis is not None:
            await self._redis.aclose()
            self._redis = None

    # -- the request path (never awaits, but fetch) --------------------------------------------

    @property
    def warming(self) -> bool:
        """Whether the local copy may lack pins the fleet holds (not subscribed for a whole
        TTL yet): only then are pins fetched. Not subscribed at all (Redis away): no."""
        since = self._subscribed_at
        return since is not None and self._clock() - since < self.local.ttl_s

    async def fetch(self, key: str, members: Collection[str]) -> str | None:
        """The pin of ``key`` among ``members``: the local one, else Redis's (kept here)."""
        local = self.local.peek(key)
        if local is not None:
            return local
        try:
            self.round_trips += 1
            self.reads += 1
            raw = await asyncio.wait_for(self._redis.get(self.prefix + key), self.timeout_s)
        except Exception as exc:  # down, slow: the group's balancing decides
            self._warn(exc)
            return None
        found = _as_member(raw, members)
        if found is None:
            if raw is not None:
                self._warn(ValueError(f"{key}: {raw!r:.80} is not a deployment of the group"))
            return None
        self.local.set(key, found)
        self._written[key] = self._clock()
        return found

    def claim(self, key: str, deployment: str) -> None:
        """A new conversation's group chose ``deployment``: claim the pin in the fleet (in
        the background, ``NX``) while the provider is asked."""
        self._queue(key, deployment, only_new=True)

    def served(self, key: str, deployment: str, pinned: str | None, claimed: str | None) -> None:
        """``deployment`` answered a request of ``key``: it is the pin here, and in the fleet
        when it moved (or its last write is older than half the TTL)."""
        self.local.set(key, deployment)
        if deployment == claimed:
            return  # the claim is on its way
        if deployment == pinned:
            written = self._written.get(key)
            if written is not None and self._clock() - written < self.local.ttl_s / 2:
                return
        self._queue(key, deployment, only_new=False)

    def _queue(self, key: str, deployment: str, *, only_new: bool) -> None:
        pending = self._pending
        if len(pending) >= _MAX_PENDING and key not in pending:
            return
        pending[key] = (deployment, only_new)
        written = self._written
        if len(written) > 2 * self.local.max_entries:
            written.clear()
        written[key] = self._clock()
        self._wake.set()

    # -- the background tasks -------------------------------------------------------------------

    async def _writer(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self._flush()
            await asyncio.sleep(_BATCH_S)  # what comes meanwhile goes in the next batch

    async def _flush(self) -> None:
        pending, self._pending = self._pending, {}
        if not pending or self._redis is None:
            return
        from redis.exceptions import ConnectionError as Disconnected
        from redis.exceptions import NoScriptError

        answers: list[Any] = []
        for again in (True, False):
            try:
                answers = await self._write(pending)
                break
            except (NoScriptError, Disconnected) as exc:
                # a connection the pool kept from before a restart fails once, and the
                # restarted Redis has no script (NOSCRIPT): load it again and try once more
                self._sha = None
                if not again:
                    self._warn(exc)
                    return
            except Exception as exc:
                self._warn(exc)
                return
        for key, answer in zip(pending, answers, strict=False):
            theirs = _as_member(answer, None)
            if theirs is not None:  # claimed first elsewhere: follow the fleet's pin
                self.local.set(key, theirs)

    async def _write(self, pending: dict[str, tuple[str, bool]]) -> list[Any]:
        """One pipeline of PIN calls (and the script's load, once)."""
        redis = self._redis
        if self._sha is None:
            self.round_trips += 1
            self._sha = await asyncio.wait_for(redis.script_load(PIN), self.timeout_s)
        px = str(max(1, int(self.local.ttl_s * 1000)))
        sender, channel, prefix = self.id, self.channel, self.prefix
        pipe = redis.pipeline(transaction=False)
        for key, (deployment, only_new) in pending.items():
            message = f"{sender}\n{deployment}\n{key}"
            nx = "1" if only_new else "0"
            pipe.evalsha(self._sha, 1, prefix + key, deployment, px, nx, channel, message)
        self.round_trips += 1
        answers: list[Any] = await asyncio.wait_for(pipe.execute(), self.timeout_s * 4)
        return answers

    async def _listen(self) -> None:
        """Apply the fleet's pins to the local map; resubscribe after any failure."""
        while True:
            try:
                pubsub = self._redis.pubsub()
                try:
                    await pubsub.subscribe(self.channel)
                    self._subscribed_at = self._clock()
                    while True:
                        message = await pubsub.get_message(
                            ignore_subscribe_messages=True, timeout=1.0
                        )
                        if message is not None:
                            self._apply(message)
                finally:
                    self._subscribed_at = None
                    with contextlib.suppress(Exception):
                        await pubsub.aclose()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # down: local pins until it is back
                self._warn(exc)
                await asyncio.sleep(1.0)

    def _apply(self, message: object) -> None:
        data = message.get("data") if isinstance(message, dict) else None
        if not isinstance(data, bytes):
            return
        parts = data.decode("utf-8", "replace").split("\n", 2)
        if len(parts) != 3 or parts[0] == self.id or not parts[1] or not parts[2]:
            return
        _, deployment, key = parts
        self.local.set(key, deployment)  # not a member of the group: the balancer ignores it
        self._written[key] = self._clock()

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
