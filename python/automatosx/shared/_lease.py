"""One deployment's admission when its state is shared by a fleet: :class:`SharedGuard`.

The request path never awaits Redis. Each budget (requests per minute, tokens per minute) is
a :class:`Budget`: units leased ahead of need from the fleet's bucket in Redis and spent
locally; a request that finds the lease empty waits (within its patience) for the background
refill that :class:`~automatosx.shared.SharedState` runs, never for a Redis call of its own.
Tokens are spent by estimate and settled with the real usage: a lease may go into debt by one
request's tokens, which the next grant pays first.

The breaker stays the process's own (the Rust core's) for counting failures; what is shared
is its *transitions*: an opening seen here is published, an opening published elsewhere makes
this process skip the deployment until the fleet's open time has passed, and then a single
probe token (a Redis key set with NX) lets one process in the fleet try it. A 429's cool-down
is published the same way. When Redis is unreachable the guard falls back to a local limiter
holding the global limit divided by the last known number of live processes.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from typing import Protocol

from automatosx._core import CircuitBreaker, RateLimiter, monotonic_ms
from automatosx.errors import CircuitOpenError, RateLimitError
from automatosx.guards import Skip

__all__ = ["Budget", "Fleet", "SharedGuard"]


class Fleet(Protocol):
    """What a guard asks of its :class:`~automatosx.shared.SharedState` (none of it awaits)."""

    degraded: bool
    outage: int
    live: int

    def kick(self, guard: SharedGuard) -> None: ...
    def want_probe(self, guard: SharedGuard) -> None: ...
    def publish(self, guard: SharedGuard, kind: str, ms: int) -> None: ...


class Budget:
    """One global per-minute budget of one deployment, as this process holds it.

    ``units`` is the local lease (tokens may go negative: a debt). The bucket in Redis holds
    one second of the budget (``capacity``) and refills at ``rate`` per ms of the server's
    clock; a lease tops up to at most ``max_lease`` units (a fraction of ``capacity``), sized
    by the demand since the last refill, so no process can hoard the fleet's budget.
    """

    __slots__ = (
        "capacity",
        "key",
        "max_lease",
        "pending",
        "pending_at_ms",
        "per_minute",
        "rate",
        "units",
        "used",
        "wait_ms",
    )

    def __init__(self, key: str, per_minute: int, lease_fraction: float) -> None:
        self.key = key
        self.per_minute = per_minute
        self.rate = per_minute / 60_000
        self.capacity = max(1.0, per_minute / 60)
        self.max_lease = max(1, int(self.capacity * lease_fraction))
        self.units = 0
        self.used = 0
        """Units spent since the last refill: the demand the next lease is sized by."""
        self.wait_ms = 0
        """The server's last word: ms until its bucket held one more unit (0: it had some)."""
        self.pending = 0
        """Units reserved in the fleet's queue, ours from ``pending_at_ms`` (monotonic)."""
        self.pending_at_ms = 0

    @property
    def low(self) -> bool:
        """At or below half the lease: time to refill in the background."""
        return self.units <= self.max_lease // 2

    def want(self) -> int:
        """Units to ask for: top the lease up to the recent demand (x2, capped)."""
        target = min(self.max_lease, max(1, 2 * self.used))
        return max(1, target - self.units)

    def granted(self, units: int, reserved: int, wait_ms: int) -> None:
        self.units += units
        self.used = 0
        self.wait_ms = wait_ms
        if reserved:
            self.pending += reserved
            self.pending_at_ms = monotonic_ms() + wait_ms

    def mature(self, now_ms: int) -> int:
        """Move reserved units whose time has come into the lease; else ms until they do
        (0: nothing reserved)."""
        if not self.pending:
            return 0
        if now_ms >= self.pending_at_ms:
            self.units += self.pending
            self.pending = 0
            return 0
        return self.pending_at_ms - now_ms

    def spare(self) -> int:
        """Units to give back (all of a positive lease), taken out of the lease."""
        units = max(0, self.units)
        self.units -= units
        return units


class SharedGuard:
    """A deployment's admission over fleet-wide budgets, cool-downs and breaker openings."""

    __slots__ = (
        "breaker",
        "cooled_until_ms",
        "fallback",
        "fallback_epoch",
        "name",
        "open_until_ms",
        "probe_mine",
        "probe_ttl_ms",
        "probing",
        "requests",
        "reset_ms",
        "state",
        "tokens",
        "tripped",
        "waiters",
    )

    def __init__(
        self,
        state: Fleet,
        name: str,
        breaker: CircuitBreaker | None,
        requests: Budget | None,
        tokens: Budget | None,
        *,
        reset_ms: int,
        probe_ttl_ms: int,
    ) -> None:
        self.state = state
        self.name = name
        self.breaker = breaker
        self.requests = requests
        self.tokens = tokens
        self.reset_ms = reset_ms
        self.probe_ttl_ms = probe_ttl_ms
        self.cooled_until_ms = 0
        self.waiters: list[asyncio.Future[None]] = []
        self.tripped = False
        """The fleet's breaker for this deployment is open or half-open."""
        self.open_until_ms = 0
        self.probe_mine = False
        """This process holds the fleet's probe token and has not sent the probe yet."""
        self.probing = False
        self.fallback: RateLimiter | None = None
        self.fallback_epoch = -1

    # -- the Guard protocol ------------------------------------------------------------------

    async def admit(self, tokens: Callable[[], int], patience_ms: int) -> Skip | None:
        if self.tripped and self._fleet_blocks():
            return CircuitOpenError(self.name)
        if not self._take(tokens):
            skip = await self._wait(tokens, patience_ms)
            if skip is not None:
                return skip
        breaker = self.breaker
        if breaker is not None and not breaker.allow_request():
            return CircuitOpenError(self.name)
        return None

    def succeeded(self, estimate: int, used: int) -> None:
        if self.breaker is not None:
            self.breaker.record_success()
        tokens = self.tokens
        if tokens is not None and not self.state.degraded:
            tokens.units += estimate - used
            tokens.used += used - estimate
        elif self.fallback is not None:
            self.fallback.settle(estimate, used)
        if self.probing:
            self.probing = False
            self.tripped = False
            self.open_until_ms = 0
            self.state.publish(self, "close", 0)

    def failed(self, counts: bool, retry_after_ms: int | None, cools: bool) -> None:
        if cools and retry_after_ms:
            self.cooled_until_ms = monotonic_ms() + retry_after_ms
            self.state.publish(self, "cool", retry_after_ms)
        probing, self.probing = self.probing, False
        breaker = self.breaker
        if breaker is None:
            return
        if not counts:
            breaker.record_neutral()
            if probing:
                self.state.publish(self, "unprobe", 0)
            return
        was_open = str(breaker.state) == "open"
        breaker.record_failure()
        if probing or (not was_open and str(breaker.state) == "open"):
            self.trip(self.reset_ms)
            self.state.publish(self, "open", self.reset_ms)

    def released(self) -> None:
        if self.breaker is not None:
            self.breaker.record_neutral()
        if self.probing:
            self.probing = False
            self.state.publish(self, "unprobe", 0)

    @property
    def breaker_state(self) -> str | None:
        if self.tripped:
            return "open" if monotonic_ms() < self.open_until_ms else "half_open"
        return None if self.breaker is None else str(self.breaker.state)

    # -- the fleet's breaker -----------------------------------------------------------------

    def trip(self, open_ms: int) -> None:
        """The fleet's breaker opened (here or elsewhere) for ``open_ms`` more ms."""
        self.tripped = True
        self.open_until_ms = monotonic_ms() + open_ms
        self.probe_mine = False

    def untrip(self) -> None:
        self.tripped = False
        self.open_until_ms = 0
        self.probe_mine = False

    def _fleet_blocks(self) -> bool:
        """Open: skip. Half-open: only the holder of the fleet's probe token goes, once."""
        if monotonic_ms() < self.open_until_ms:
            return True
        if self.probe_mine:
            self.probe_mine = False
            self.probing = True
            return False
        if self.state.degraded:
            return False  # no fleet to ask: the local breaker alone decides
        self.state.want_probe(self)
        return True

    # -- limits --------------------------------------------------------------------------------

    def _take(self, tokens: Callable[[], int]) -> bool:
        """Spend from the local lease when it holds enough: the whole hot path."""
        if self.cooled_until_ms or self.state.degraded:
            return False
        req, tok = self.requests, self.tokens
        if req is not None and req.units < 1:
            return False
        if tok is not None and tok.units <= 0:
            return False
        if req is not None:
            req.units -= 1
            req.used += 1
            if req.low:
                self.state.kick(self)
        if tok is not None:
            estimate = tokens()
            tok.units -= estimate
            tok.used += estimate
            if tok.low:
                self.state.kick(self)
        return True

    async def _wait(self, tokens: Callable[[], int], patience_ms: int) -> Skip | None:
        """The slow path: a cool-down, an empty lease, or Redis down (local limits)."""
        deadline = monotonic_ms() + patience_ms
        while True:
            now = monotonic_ms()
            until = self.cooled_until_ms
            if until and until <= now:
                self.cooled_until_ms = until = 0
            if until:
                wait = until - now
            elif self.state.degraded:
                limiter = self._fallback()
                wait = 0 if limiter is None else limiter.try_acquire(tokens=tokens())
                if wait <= 0:
                    return None
            else:
                budgets = [b for b in (self.requests, self.tokens) if b is not None]
                wait = max(b.mature(now) for b in budgets)
                if not wait:
                    if self._take(tokens):
                        return None
                    wait = max(b.wait_ms for b in budgets if not b.pending)
                    if now + wait > deadline:
                        return self._too_long(wait, patience_ms)
                    await self._refilled(deadline - now)
                    continue
            if now + wait > deadline:
                return self._too_long(wait, patience_ms)
            await asyncio.sleep(wait / 1000)

    async def _refilled(self, within_ms: int) -> None:
        """Wait for the next background refill of this deployment (or the deadline)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiters.append(future)
        self.state.kick(self)
        try:  # asyncio.wait, not asyncio.timeout: the package supports Python 3.10
            await asyncio.wait({future}, timeout=max(within_ms, 1) / 1000)
        finally:
            if future in self.waiters:
                self.waiters.remove(future)

    def wake(self) -> None:
        """Let every waiter look at the lease again (after a refill, or when Redis failed)."""
        waiters, self.waiters = self.waiters, []
        for future in waiters:
            if not future.done():
                future.set_result(None)

    def _too_long(self, wait: int, patience_ms: int) -> RateLimitError:
        return RateLimitError(
            f"rate limit (shared): would wait {wait} ms (more than max_retry_wait_ms="
            f"{patience_ms})",
            provider=self.name,
            retry_after=wait / 1000,
        )

    def _fallback(self) -> RateLimiter | None:
        """The local limiter while Redis is away: the global limits / live processes."""
        epoch = self.state.outage
        if self.fallback_epoch != epoch:
            live = max(1, self.state.live)
            req, tok = self.requests, self.tokens
            self.fallback = (
                None
                if req is None and tok is None
                else RateLimiter(
                    requests_per_minute=None if req is None else _share(req.per_minute, live),
                    tokens_per_minute=None if tok is None else _share(tok.per_minute, live),
                )
            )
            self.fallback_epoch = epoch
        return self.fallback


def _share(per_minute: int, live: int) -> int:
    return max(1, math.floor(per_minute / live))
