"""``SharedState``: one process's link to the fleet's state in Redis (or Valkey).

One background task does all the talking to Redis, so that no request ever awaits it:

* **leases**: when a deployment's local lease runs low (or a request waits on an empty one)
  the request path only *kicks* this task, which runs the lease script (``_scripts.LEASE``)
  and wakes the waiters; a lease nobody spent for a poll period is given back;
* **transitions**: a breaker opening, a closing after a successful fleet probe and a 429's
  cool-down are queued by the request path and published here on ``<prefix>events``, with a
  key whose time-to-live carries the state (``<prefix><deployment>:open``, ``:tripped``,
  ``:cool``) for processes that missed the message; a second task listens on the channel;
* **every** ``poll_s``: the heartbeat (a sorted set of live processes, by the server's clock),
  and a poll of those keys — the fallback when a message was lost.

Any Redis error makes the process *degraded*: it logs one warning, every deployment falls
back to a local limiter of the global limit divided by the last known number of live
processes, and the task keeps beating until Redis answers, then logs that it rejoined.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from automatosx.errors import ConfigurationError, redact
from automatosx.shared._lease import Budget, SharedGuard
from automatosx.shared._scripts import HEARTBEAT, LEASE

if TYPE_CHECKING:
    from automatosx.guards import DeploymentSpec

__all__ = ["SharedState"]

log = logging.getLogger("automatosx.shared")

_BUCKET_TTL_MS = 120_000
_FAILURES = (OSError, asyncio.TimeoutError)


class SharedState:
    """Guard state shared by every router process using the same Redis and deployment ids.

    ``url`` is a ``redis://`` (or ``rediss://``, ``unix://``) URL; Valkey works the same.
    ``lease_fraction`` is the most of the fleet's one-second budget a process leases at once
    (smaller: fairer and tighter, more round trips); ``heartbeat_s`` how often this process
    says it is alive (it counts as gone after three missed beats); ``poll_s`` how often the
    shared keys are re-read in case a published message was missed; ``timeout_s`` the longest
    any Redis call may take before the process fails open to local limits. ``prefix`` starts
    every key and the channel.

    Pass it (or just the URL) as ``Router(..., shared=...)``; the router attaches it at
    ``open()`` and closes it at ``aclose()``. One instance serves one router.
    """

    def __init__(
        self,
        url: str,
        *,
        lease_fraction: float = 0.1,
        heartbeat_s: float = 1.0,
        poll_s: float = 0.5,
        timeout_s: float = 0.5,
        prefix: str = "automatosx:",
    ) -> None:
        if not isinstance(url, str) or not url.startswith(("redis://", "rediss://", "unix://")):
            raise ConfigurationError(
                "shared: expected a Redis URL such as 'redis://localhost:6379/0' "
                f"(redis://, rediss:// or unix://), got {_where(url)!r}"
            )
        for field, value in (
            ("lease_fraction", lease_fraction),
            ("heartbeat_s", heartbeat_s),
            ("poll_s", poll_s),
            ("timeout_s", timeout_s),
        ):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ConfigurationError(
                    f"shared: {field} must be a positive number, got {value!r}"
                )
        if lease_fraction > 1:
            raise ConfigurationError(
                f"shared: lease_fraction is a fraction of the one-second budget, at most 1; "
                f"got {lease_fraction!r}"
            )
        self.url = url
        self.lease_fraction = float(lease_fraction)
        self.heartbeat_s = float(heartbeat_s)
        self.poll_s = float(poll_s)
        self.timeout_s = float(timeout_s)
        self.prefix = prefix
        self.id = uuid.uuid4().hex
        self.guards: dict[str, SharedGuard] = {}
        self.degraded = False
        self.outage = 0
        """How many times Redis was lost (each loss rebuilds the local fallback limiters)."""
        self.live = 1
        """The number of live processes, as of the last heartbeat."""
        self._redis: Any = None
        self._lease: Any = None
        self._beat: Any = None
        self._wake = asyncio.Event()
        self._due: set[SharedGuard] = set()
        self._probes: set[SharedGuard] = set()
        self._outbox: list[tuple[SharedGuard, str, int]] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = False
        self._error: type[Exception] = OSError  # redis.exceptions.RedisError once attached

    def __repr__(self) -> str:
        state = "degraded" if self.degraded else "joined"
        return f"SharedState({_where(self.url)!r}, {state}, live={self.live})"

    # -- lifecycle ---------------------------------------------------------------------------

    @classmethod
    def attach(cls, shared: str | SharedState) -> SharedState:
        """The state a router's guards share (connected lazily: nothing is awaited). Its
        :meth:`guard` is the router's guard factory; :meth:`start` then joins the fleet."""
        state = cls(shared) if isinstance(shared, str) else shared
        if state._redis is not None:
            raise ConfigurationError("shared: this SharedState is already attached to a router")
        state._connect()
        return state

    def guard(self, spec: DeploymentSpec) -> SharedGuard:
        """The guard factory (:data:`automatosx.guards.GuardFactory`): a deployment's
        :class:`SharedGuard`, built once when the router opens."""
        guard = self.guards[spec.name] = self._guard(spec)
        return guard

    async def start(self) -> None:
        """Join the fleet and start the background tasks. A Redis that does not answer now
        is not an error: the router starts degraded."""
        try:
            await self._tick()
        except (*_FAILURES, self._error) as exc:
            self._degrade(exc)
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._run()), loop.create_task(self._listen())]

    def _connect(self) -> None:
        try:
            import redis.asyncio as aioredis
            from redis.exceptions import RedisError
        except ImportError as exc:
            raise ConfigurationError(
                "shared: the Redis client is not installed; pip install 'automatosx[redis]'"
            ) from exc
        self._error = RedisError
        self._redis = aioredis.Redis.from_url(
            self.url,
            socket_timeout=self.timeout_s,
            socket_connect_timeout=self.timeout_s,
            retry_on_timeout=False,
            retry=None,
        )
        self._lease = self._redis.register_script(LEASE)
        self._beat = self._redis.register_script(HEARTBEAT)

    def _guard(self, spec: DeploymentSpec) -> SharedGuard:
        name = spec.name
        options = spec.options
        rpm = spec.requests_per_minute
        tpm = spec.tokens_per_minute
        key = f"{self.prefix}{name}:"
        return SharedGuard(
            self,
            name,
            spec.breaker,
            None if not rpm else Budget(key + "rpm", rpm, self.lease_fraction),
            None if not tpm else Budget(key + "tpm", tpm, self.lease_fraction),
            reset_ms=int(options.circuit_breaker_timeout),
            probe_ttl_ms=max(1_000, spec.timeout_ms),
        )

    async def aclose(self) -> None:
        """Stop the background tasks, give back the unspent leases, leave the live set."""
        if self._closed:
            return
        self._closed = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._redis is None:
            return
        if not self.degraded:
            with contextlib.suppress(*_FAILURES, self._error):
                await self._give_back(all_of_it=True)
                await self._beat(keys=[self._live_key], args=[self.id, self._stale_ms, 0])
        with contextlib.suppress(*_FAILURES, self._error):
            await self._redis.aclose()

    # -- what the request path calls (never awaits) --------------------------------------------

    def kick(self, guard: SharedGuard) -> None:
        """Refill ``guard``'s leases soon (in the background)."""
        if not self._closed:
            self._due.add(guard)
            self._wake.set()

    def want_probe(self, guard: SharedGuard) -> None:
        """Try for the fleet's probe token of a half-open deployment (in the background)."""
        if not self._closed:
            self._probes.add(guard)
            self._wake.set()

    def publish(self, guard: SharedGuard, kind: str, ms: int) -> None:
        """Tell the fleet: ``open`` (for ``ms``), ``close``, ``cool`` (for ``ms``), or
        ``unprobe`` (give the probe token back)."""
        if not self._closed and not self.degraded:
            self._outbox.append((guard, kind, ms))
            self._wake.set()

    # -- the background task -------------------------------------------------------------------

    @property
    def _live_key(self) -> str:
        return f"{self.prefix}live"

    @property
    def _channel(self) -> str:
        return f"{self.prefix}events"

    @property
    def _stale_ms(self) -> int:
        return int(self.heartbeat_s * 3000)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_tick = loop.time() + self.poll_s
        while True:
            # asyncio.wait, not asyncio.timeout: the package supports Python 3.10
            waiter = asyncio.ensure_future(self._wake.wait())
            try:
                await asyncio.wait({waiter}, timeout=max(0.0, next_tick - loop.time()))
            finally:
                waiter.cancel()
            self._wake.clear()
            try:
                if loop.time() >= next_tick:
                    next_tick = loop.time() + min(self.poll_s, self.heartbeat_s)
                    await self._tick()
                if not self.degraded:
                    await self._send()
                    await self._refill()
            except (*_FAILURES, self._error) as exc:
                self._degrade(exc)

    async def _tick(self) -> None:
        """Heartbeat, re-read the shared breaker and cool-down keys, give back idle leases."""
        self.live = int(await self._beat(keys=[self._live_key], args=[self.id, self._stale_ms, 1]))
        if self.degraded:
            self.degraded = False
            log.warning(
                "shared state: Redis at %s is back; limits are global again", _where(self.url)
            )
        guards = list(self.guards.values())
        if guards:
            pipe = self._redis.pipeline(transaction=False)
            for g in guards:
                key = f"{self.prefix}{g.name}:"
                pipe.pttl(key + "open")
                pipe.exists(key + "tripped")
                pipe.pttl(key + "cool")
            answers = await pipe.execute()
            for i, g in enumerate(guards):
                self._reconcile(g, *answers[3 * i : 3 * i + 3])
        await self._give_back(all_of_it=False)

    def _reconcile(self, g: SharedGuard, open_ttl: int, tripped: int, cool_ttl: int) -> None:
        if open_ttl > 0:
            if not g.tripped or g.open_until_ms == 0:
                g.trip(open_ttl)
        elif tripped:
            if not g.tripped:
                g.trip(0)
        elif g.tripped and not g.probing:
            g.untrip()
        if cool_ttl > 0:
            self._cool(g, cool_ttl)

    @staticmethod
    def _cool(g: SharedGuard, ms: int) -> None:
        from automatosx._core import monotonic_ms

        g.cooled_until_ms = max(g.cooled_until_ms, monotonic_ms() + ms)

    async def _give_back(self, *, all_of_it: bool) -> None:
        for g in self.guards.values():
            for budget in (g.requests, g.tokens):
                if budget is None or (not all_of_it and (budget.used or g.waiters)):
                    continue
                back = budget.spare()
                if back:
                    await self._lease(
                        keys=[budget.key],
                        args=[repr(budget.rate), repr(budget.capacity), 0, back, _BUCKET_TTL_MS, 0],
                    )

    async def _refill(self) -> None:
        due, self._due = self._due, set()
        loop = asyncio.get_running_loop()
        for g in due:
            wait = 0
            for budget in (g.requests, g.tokens):
                if budget is None or budget.pending or not (budget.low or g.waiters):
                    continue
                reserve = 1 if g.waiters else 0  # queue in the fleet only when someone waits
                granted, reserved, budget_wait = await self._lease(
                    keys=[budget.key],
                    args=[
                        repr(budget.rate),
                        repr(budget.capacity),
                        budget.want(),
                        0,
                        _BUCKET_TTL_MS,
                        reserve,
                    ],
                )
                budget.granted(int(granted), int(reserved), int(budget_wait))
                if budget.units < 1 and not reserved and g.waiters:
                    wait = max(wait, int(budget_wait))
            g.wake()
            if wait:
                loop.call_later(wait / 1000, self.kick, g)

    async def _send(self) -> None:
        outbox, self._outbox = self._outbox, []
        probes, self._probes = self._probes, set()
        for g, kind, ms in outbox:
            key = f"{self.prefix}{g.name}:"
            pipe = self._redis.pipeline(transaction=False)
            if kind == "open":
                pipe.set(key + "open", self.id, px=max(1, ms))
                pipe.set(key + "tripped", self.id, px=max(1, ms) * 4 + 60_000)
                pipe.delete(key + "probe")
            elif kind == "close":
                pipe.delete(key + "open", key + "tripped", key + "probe")
            elif kind == "cool":
                pipe.set(key + "cool", self.id, px=max(1, ms))
            else:  # unprobe
                pipe.delete(key + "probe")
            if kind != "unprobe":
                pipe.publish(self._channel, f"{self.id} {kind} {ms} {g.name}")
            await pipe.execute()
        for g in probes:
            if g.tripped and not g.probe_mine:
                key = f"{self.prefix}{g.name}:probe"
                won = await self._redis.set(key, self.id, nx=True, px=g.probe_ttl_ms)
                g.probe_mine = bool(won)

    async def _listen(self) -> None:
        """Apply the fleet's published transitions; reconnect after any failure."""
        while True:
            try:
                pubsub = self._redis.pubsub()
                try:
                    await pubsub.subscribe(self._channel)
                    while True:
                        message = await pubsub.get_message(
                            ignore_subscribe_messages=True, timeout=self.poll_s
                        )
                        if message is not None:
                            self._on_message(message["data"])
                finally:
                    with contextlib.suppress(*_FAILURES, self._error):
                        await pubsub.aclose()
            except (*_FAILURES, self._error):
                await asyncio.sleep(self.poll_s)

    def _on_message(self, data: bytes | str) -> None:
        text = data.decode() if isinstance(data, bytes) else data
        parts = text.split(" ", 3)
        if len(parts) != 4 or parts[0] == self.id:
            return
        _, kind, ms_text, name = parts
        g = self.guards.get(name)
        if g is None or not ms_text.isdigit():
            return
        ms = int(ms_text)
        if kind == "open":
            g.trip(ms)
        elif kind == "close":
            g.untrip()
        elif kind == "cool":
            self._cool(g, ms)

    def _degrade(self, exc: BaseException) -> None:
        """Fail open to local limits: one warning per outage, every waiter re-checks."""
        self._outbox.clear()
        self._probes.clear()
        self._due.clear()
        if not self.degraded:
            self.degraded = True
            self.outage += 1
            log.warning(
                "shared state: Redis at %s is unreachable (%s); failing open to local "
                "limits (the global limit / %d live process(es)) until it is back",
                _where(self.url),
                redact(f"{type(exc).__name__}: {exc}"),
                self.live,
            )
        for g in self.guards.values():
            for budget in (g.requests, g.tokens):
                if budget is not None:
                    budget.units = min(budget.units, 0)
                    budget.pending = 0
            g.wake()


def _where(url: object) -> str:
    """The URL without its credentials, for messages and logs."""
    if not isinstance(url, str):
        return type(url).__name__
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"
