"""Admission per deployment in one process: limiter wait or skip, a 429's cool-down, the
circuit breaker.

The attempt loop only talks to a :class:`~automatosx.guards.Guard` (the public protocol);
:class:`LocalGuard` is the implementation over the Rust core, built by :func:`local_guard`
(the default :data:`~automatosx.guards.GuardFactory`). ``admit`` is a coroutine so that an
implementation sharing its state with other processes (``automatosx.shared``) plugs in
through its own factory; the local one awaits only when it must sleep through a short limiter
wait or cool-down.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from automatosx._core import CircuitBreaker, RateLimiter, monotonic_ms
from automatosx.errors import CircuitOpenError, RateLimitError
from automatosx.guards import DeploymentSpec, Guard, Skip

__all__ = ["Guard", "LocalGuard", "Skip", "local_guard"]


class LocalGuard:
    """One process's admission state of a deployment, in the Rust core."""

    __slots__ = ("breaker", "cooled_until_ms", "limiter", "name")

    def __init__(
        self, name: str, breaker: CircuitBreaker | None, limiter: RateLimiter | None
    ) -> None:
        self.name = name
        self.breaker = breaker
        self.limiter = limiter
        self.cooled_until_ms = 0
        """Monotonic ms until which a 429's retry-after cools the deployment."""

    async def admit(self, tokens: Callable[[], int], patience_ms: int) -> Skip | None:
        if self.cooled_until_ms or self.limiter is not None:
            limiter = self.limiter
            while True:
                until = self.cooled_until_ms
                wait = until - monotonic_ms() if until else 0
                if wait <= 0 and limiter is not None:
                    wait = limiter.try_acquire(tokens())  # positional: no keyword parsing
                if wait <= 0:
                    break
                if wait > patience_ms:
                    return RateLimitError(
                        f"rate limit: would wait {wait} ms (more than max_retry_wait_ms="
                        f"{patience_ms})",
                        provider=self.name,
                        retry_after=wait / 1000,
                    )
                await asyncio.sleep(wait / 1000)
        breaker = self.breaker
        if breaker is not None and not breaker.allow_request():
            return CircuitOpenError(self.name)
        return None

    def succeeded(self, estimate: int, used: int) -> None:
        if self.breaker is not None:
            self.breaker.record_success()
        if self.limiter is not None:
            self.limiter.settle(estimate, used)

    def failed(self, counts: bool, retry_after_ms: int | None, cools: bool) -> None:
        if cools and retry_after_ms:
            self.cooled_until_ms = monotonic_ms() + retry_after_ms
        if self.breaker is not None:
            if counts:
                self.breaker.record_failure()
            else:
                self.breaker.record_neutral()

    def released(self) -> None:
        if self.breaker is not None:
            self.breaker.record_neutral()

    @property
    def breaker_state(self) -> str | None:
        return None if self.breaker is None else str(self.breaker.state)


def local_guard(spec: DeploymentSpec) -> LocalGuard:
    """The default guard factory: this process's limiter, cool-down and breaker."""
    return LocalGuard(spec.name, spec.breaker, spec.limiter)
