"""Admission per deployment: limiter wait or skip, a 429's cool-down, the circuit breaker.

The attempt loop only talks to a :class:`Guard`; :class:`LocalGuard` is the implementation
over the Rust core (one process). ``admit`` is a coroutine so that an implementation sharing
its state with other processes can plug in without touching the loop; the local one awaits
only when it must sleep through a short limiter wait or cool-down.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from automatosx._core import CircuitBreaker, RateLimiter, monotonic_ms
from automatosx.errors import CircuitOpenError, ProviderError, RateLimitError

__all__ = ["Guard", "LocalGuard", "Skip"]

Skip = ProviderError | CircuitOpenError
"""Why a deployment was passed over without sending anything."""


@runtime_checkable
class Guard(Protocol):
    """Admission control of one deployment."""

    async def admit(self, tokens: Callable[[], int], patience_ms: int) -> Skip | None:
        """Wait for the limiter or a cool-down when the wait is at most ``patience_ms``;
        return why to skip the deployment, or None when the request may be sent now.
        ``tokens`` gives the request's token estimate (called only when a limiter needs it)."""
        ...

    def succeeded(self, estimate: int, used: int) -> None:
        """A call succeeded: close the breaker's probe, settle the token reservation."""
        ...

    def failed(self, counts: bool, retry_after_ms: int | None, cools: bool) -> None:
        """A call failed: a breaker failure when ``counts`` (else neutral); cool the
        deployment for ``retry_after_ms`` when ``cools``."""
        ...

    def released(self) -> None:
        """A call ended without saying anything of the provider (cancelled): neutral."""
        ...

    @property
    def breaker_state(self) -> str | None:
        """``closed``, ``open`` or ``half_open``; None without a breaker."""
        ...


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
                    wait = limiter.try_acquire(tokens=tokens())
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
