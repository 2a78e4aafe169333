"""Fleet budgets: every process of a fleet spends one budget, leased from Redis.

The request path never awaits Redis while its account's lease holds the attempt's claim: it
reserves from the lease locally (``_ledger``). An account whose lease is short *tops up*:
the request waits (briefly, bounded by ``timeout_s``) for this process's background task,
which runs the lease script (``_scripts.BUDGET_LEASE``) — atomic on the server, so the leases
outstanding plus the charges never exceed the limit. A lease is at least the claim and at
most ``lease_fraction`` x the fleet's remainder / live processes: near the cap leases shrink
to one claim, so the fleet spends all but about one claim per process. The same task reports
settled charges, gives back leases unused for ``idle_s``, beats in the live set, and reads
the server's clock so that every process computes the same window bounds.

**Redis down: fail to a local share, never unlimited.** Each account keeps its lease, and
gets once per outage a share of what the fleet had not leased when last seen, divided by the
live processes then: the shares of the fleet add up to at most the remainder. An account
first met during the outage gets its limit less the spend resumed from the store, / live.
When Redis is back the process reports what it spent from the share (the script adds it to
the fleet's total) and leases again. Fail-closed would stop every request of the fleet for
the outage of a cache; failing open would make the cap meaningless: the share keeps both the
service and the bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

from automatosx.budgets._gate import Budgets
from automatosx.budgets._ledger import Account
from automatosx.budgets._scripts import BUDGET_LEASE, BUDGET_LIVE
from automatosx.errors import ConfigurationError, redact

__all__ = ["BudgetFleet"]

log = logging.getLogger("automatosx.budgets")
_FAILURES = (OSError, asyncio.TimeoutError)
_KEEP_MS = 86_400_000  # a window's hash outlives its end by a day (late charges, reads)


class BudgetFleet:
    """One process's link to its fleet's budgets in Redis (``Router(..., shared=url)``)."""

    def __init__(
        self,
        budgets: Budgets,
        url: str,
        *,
        prefix: str = "automatosx:budget:",
        lease_fraction: float = 0.5,
        poll_s: float = 0.5,
        idle_s: float = 2.0,
        timeout_s: float = 0.5,
    ) -> None:
        self.budgets = budgets
        self.url = url
        self.prefix = prefix
        self.lease_fraction = lease_fraction
        self.poll_s = poll_s
        self.idle_s = idle_s
        self.timeout_s = timeout_s
        self.id = uuid.uuid4().hex
        self.live = 1
        self.degraded = False
        self.outage = 0
        self.calls = 0
        """Lease script calls so far (a request normally makes none)."""
        self.offset = 0.0
        """Server clock minus local clock, seconds (windows are cut on the server's)."""
        self._redis: Any = None
        self._lease: Any = None
        self._beat: Any = None
        self._error: type[Exception] = OSError
        self._due: dict[tuple[str, str], tuple[Account, asyncio.Future[bool]]] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._seen: dict[tuple[str, str], tuple[int, float]] = {}  # uses, since (monotonic)
        self._shared: dict[tuple[str, str], int] = {}  # the outage each share was given in
        self._forced: dict[tuple[str, str], tuple[int, int]] = {}
        self._closed = False

    # -- lifecycle ---------------------------------------------------------------------------

    async def attach(self) -> None:
        """Connect, read the server's clock, start the background task. A Redis that does
        not answer now is not an error: the process starts on its local share."""
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
        self._lease = self._redis.register_script(BUDGET_LEASE)
        self._beat = self._redis.register_script(BUDGET_LIVE)
        budgets = self.budgets
        budgets.fleet = self
        budgets.ledger.leased = True
        try:
            await self._tick()
        except (*_FAILURES, self._error) as exc:
            self._degrade(exc)
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def aclose(self) -> None:
        """Report every charge and give back every lease; leave the live set."""
        if self._closed:
            return
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait({self._task}, timeout=self.timeout_s * 4)
        for _, future in self._due.values():
            if not future.done():
                future.set_result(False)
        if self._redis is None:
            return
        with contextlib.suppress(*_FAILURES, self._error):  # Redis down: fails fast
            await self._sync(give_back=lambda acc: True)
            await self._beat(keys=[self._live_key], args=[self.id, self._stale_ms, 0])
        with contextlib.suppress(*_FAILURES, self._error):
            await self._redis.aclose()

    def now(self) -> float:
        """Epoch seconds on the Redis server's clock (as of the last tick)."""
        return time.time() + self.offset

    # -- the request path --------------------------------------------------------------------

    async def top_up(self, acc: Account) -> bool:
        """Wait for a lease that holds ``acc.wanted``; False when the fleet has no room."""
        if self._closed:
            return False
        if self.degraded:
            return self._local_share(acc)
        key = acc.key
        due = self._due.get(key)
        if due is None:
            future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
            self._due[key] = (acc, future)
            self._wake.set()
        else:
            future = due[1]
        try:
            done, _ = await asyncio.wait({future}, timeout=self.timeout_s * 2)
        except asyncio.CancelledError:
            raise
        return bool(done) and future.result()

    # -- the background task -----------------------------------------------------------------

    @property
    def _live_key(self) -> str:
        return f"{self.prefix}live"

    @property
    def _stale_ms(self) -> int:
        return int(self.poll_s * 6000)

    def _key(self, acc: Account) -> str:
        return f"{self.prefix}{acc.spec.id}:{acc.scope}:{acc.start}"

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_tick = loop.time() + self.poll_s
        while not self._closed:  # redis-py may turn a cancel mid-command into its own error
            waiter = asyncio.ensure_future(self._wake.wait())
            try:
                await asyncio.wait({waiter}, timeout=max(0.0, next_tick - loop.time()))
            finally:
                waiter.cancel()
            self._wake.clear()
            try:
                if loop.time() >= next_tick:
                    next_tick = loop.time() + self.poll_s
                    await self._tick()
                if not self.degraded:
                    await self._grant()
            except (*_FAILURES, self._error) as exc:
                if self._closed:
                    return  # the cancel of aclose(), as redis-py raised it
                self._degrade(exc)

    async def _tick(self) -> None:
        t0 = time.time()
        seconds, micros = await self._redis.time()
        t1 = time.time()
        self.offset = self.budgets.offset = seconds + micros / 1e6 - (t0 + t1) / 2
        self.live = int(await self._beat(keys=[self._live_key], args=[self.id, self._stale_ms, 1]))
        if self.degraded:
            self.degraded = False
            log.warning(
                "budgets: Redis at %s is back; budgets are fleet-wide again", _where(self.url)
            )
        await self._sync(give_back=self._idle)

    def _idle(self, acc: Account) -> bool:
        """No reservation for ``idle_s``: its lease goes back to the fleet."""
        now = time.monotonic()
        uses, since = self._seen.get(acc.key, (-1, now))
        if uses != acc.uses:
            self._seen[acc.key] = (acc.uses, now)
            return False
        return now - since >= self.idle_s

    async def _sync(self, give_back: Any) -> None:
        """Report charges (and forced spend) of every account; give back idle leases."""
        for acc in list(self.budgets.ledger.accounts.values()):
            back = give_back(acc) and not acc.reserved and (acc.lease > 0 or acc.lease_tokens > 0)
            if not (acc.unreported or acc.unreported_tokens or back or acc.key in self._forced):
                continue
            await self._call(acc, 0, 0, back)

    async def _grant(self) -> None:
        due, self._due = self._due, {}
        for acc, future in due.values():
            want_n, want_t = acc.wanted
            granted = await self._call(acc, max(0, want_n), max(0, want_t), False)
            if not future.done():
                future.set_result(granted)

    async def _call(self, acc: Account, want_n: int, want_t: int, back: bool) -> bool:
        back_n = max(0, acc.lease) if back else 0
        back_t = max(0, acc.lease_tokens) if back else 0
        charged_n, charged_t = acc.unreported, acc.unreported_tokens
        forced_n, forced_t = self._forced.pop(acc.key, (0, 0))
        acc.lease -= back_n
        acc.lease_tokens -= back_t
        acc.unreported = acc.unreported_tokens = 0
        self.calls += 1
        expire = 0 if acc.end is None else int((acc.end - self.offset) * 1000) + _KEEP_MS
        try:
            answer = await self._lease(
                keys=[self._key(acc)],
                args=[
                    -1 if acc.limit is None else acc.limit,
                    -1 if acc.limit_tokens is None else acc.limit_tokens,
                    want_n,
                    want_t,
                    back_n,
                    back_t,
                    charged_n,
                    charged_t,
                    forced_n,
                    forced_t,
                    self.live,
                    repr(self.lease_fraction),
                    expire,
                ],
            )
        except BaseException:
            acc.lease += back_n  # not given back after all
            acc.lease_tokens += back_t
            acc.unreported += charged_n
            acc.unreported_tokens += charged_t
            if forced_n or forced_t:
                self._forced[acc.key] = (forced_n, forced_t)
            raise
        grant_n, grant_t, taken_n, taken_t, fleet_n, fleet_t = (int(x) for x in answer)
        acc.lease += grant_n
        acc.lease_tokens += grant_t
        acc.fleet_spent, acc.fleet_spent_tokens = fleet_n, fleet_t
        acc.fleet_taken = (taken_n, taken_t)
        return bool(grant_n or grant_t)

    # -- Redis down --------------------------------------------------------------------------

    def _degrade(self, exc: BaseException) -> None:
        if not self.degraded:
            self.degraded = True
            self.outage += 1
            log.warning(
                "budgets: Redis at %s is unreachable (%s); each budget goes on with its lease "
                "plus a share of the fleet's remainder / %d live process(es) until it is back",
                _where(self.url),
                redact(f"{type(exc).__name__}: {exc}"),
                self.live,
            )
        due, self._due = self._due, {}
        for acc, future in due.values():
            if not future.done():
                future.set_result(self._local_share(acc))

    def _local_share(self, acc: Account) -> bool:
        """Once per outage: add this process's share of the unleased remainder."""
        if self._shared.get(acc.key) == self.outage:
            return False
        self._shared[acc.key] = self.outage
        live = max(1, self.live)
        taken = acc.fleet_taken
        if taken is None:
            taken = self.budgets.ledger.resumed.get((acc.spec.id, acc.scope, acc.start), (0, 0))
        share_n = 0 if acc.limit is None else max(0, acc.limit - taken[0]) // live
        share_t = 0 if acc.limit_tokens is None else max(0, acc.limit_tokens - taken[1]) // live
        acc.lease += share_n
        acc.lease_tokens += share_t
        forced = self._forced.get(acc.key, (0, 0))
        self._forced[acc.key] = (forced[0] + share_n, forced[1] + share_t)
        want_n, want_t = acc.wanted
        return share_n >= want_n and share_t >= want_t


def _where(url: str) -> str:
    """The URL without its credentials, for logs."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname or ''}{port}{parts.path}"
