"""Admission of attempts: the public guard protocols, and the factories that build guards.

Every attempt (a first try, a retry, a fallback, a stream restart, a hedge) is admitted
before anything is sent, by a chain built once per deployment when the router opens:

1. the deployment's :class:`Guard` (limiter, a 429's cool-down, the circuit breaker), built by
   a :data:`GuardFactory` — locally (``automatosx._routing.guard.LocalGuard``) or shared by a
   fleet (``automatosx.shared.SharedState.guard``). It may wait (up to ``maxRetryWaitMs``) or
   answer a skip;
2. then each :class:`AttemptGuard` of the deployment, built by the
   :data:`AttemptGuardFactory` entries handed to the plan (a budget reservation is one; a
   router-wide guard is the same object returned for every deployment). It sees the
   attempt (:class:`AttemptSpec`: deployment, model, request, token estimate) and answers
   :class:`Admit` (with the hold it reserved), :class:`SkipCandidate` or
   :class:`RejectRequest`. After the attempt it is told how it ended (:class:`AttemptEnd`),
   exactly once per admission, with what :class:`Admit` held.

Nothing swaps a guard after it is built: whoever reads a guard (the telemetry's breaker
gauge) reads the one requests go through.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from automatosx.errors import AutomatosxError, CircuitOpenError, ProviderError

if TYPE_CHECKING:
    from automatosx._core import CircuitBreaker, RateLimiter
    from automatosx.schemas import ProviderRequest, RouterOptions, TokenUsage

__all__ = [
    "ADMIT",
    "Admission",
    "Admit",
    "AttemptEnd",
    "AttemptGuard",
    "AttemptGuardFactory",
    "AttemptSpec",
    "DeploymentSpec",
    "Guard",
    "GuardFactory",
    "RejectRequest",
    "Skip",
    "SkipCandidate",
]

Skip = ProviderError | CircuitOpenError
"""Why a deployment was passed over without sending anything."""


@runtime_checkable
class Guard(Protocol):
    """Admission control of one deployment (its limiter, cool-down and breaker)."""

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


@dataclass(frozen=True, slots=True)
class DeploymentSpec:
    """What a factory knows of the deployment it builds a guard for (at ``open()``)."""

    name: str
    """The deployment id."""
    kind: str
    group: str
    timeout_ms: int
    requests_per_minute: int | None
    tokens_per_minute: int | None
    breaker: CircuitBreaker | None
    """The deployment's breaker (None when breakers are off): a guard decides with it."""
    limiter: RateLimiter | None
    """A local limiter over the two limits (None for a user adapter instance)."""
    options: RouterOptions


GuardFactory = Callable[[DeploymentSpec], Guard]
"""Builds a deployment's :class:`Guard`, once, when the router opens."""


@dataclass(frozen=True, slots=True)
class AttemptSpec:
    """One attempt, as an :class:`AttemptGuard` sees it before anything is sent."""

    deployment: str
    kind: str
    model: str
    request: ProviderRequest
    """The request as the caller gave it (``max_tokens``, ``tenant``, ``user``, messages)."""
    number: int
    """1-based over the whole request; a hedge is an attempt of its own."""
    tokens: Callable[[], int]
    """The request's token estimate: prompt characters / 4 + ``max_tokens`` (or 256)."""


@dataclass(frozen=True, slots=True)
class Admit:
    """Send the attempt; ``hold`` (e.g. a reservation) comes back in ``settle``."""

    hold: Any = None


ADMIT = Admit()


@dataclass(frozen=True, slots=True)
class SkipCandidate:
    """Pass this candidate over (nothing sent): recorded like an open breaker's skip; the
    request goes on to the next candidate."""

    reason: ProviderError


@dataclass(frozen=True, slots=True)
class RejectRequest:
    """End the request at once with ``error`` (no other candidate is tried); the request is
    recorded ``failed`` with the error's ``code``."""

    error: AutomatosxError


Admission = Admit | SkipCandidate | RejectRequest


@dataclass(frozen=True, slots=True)
class AttemptEnd:
    """How an admitted attempt ended, for :meth:`AttemptGuard.settle`."""

    outcome: Literal["success", "failure", "cancelled", "cancelled_hedge", "skipped"]
    """``skipped``: a later guard of the chain did not admit it (nothing was sent)."""
    usage: TokenUsage | None = None
    """The provider's usage of a successful attempt (charge the real cost)."""
    delivered_tokens: int = 0
    """A stream cut, cancelled or restarted after chunks reached the caller: an estimate of
    the tokens delivered (text characters / 4, rounded up)."""
    before_any_byte: bool = True
    """Nothing of a reply came back (release the whole reservation)."""


@runtime_checkable
class AttemptGuard(Protocol):
    """An extra admission step of every attempt (a budget reservation, a quota)."""

    async def admit(self, attempt: AttemptSpec) -> Admission:
        """Admit (reserving what the attempt may cost), skip this candidate, or reject."""
        ...

    def settle(self, attempt: AttemptSpec, hold: Any, end: AttemptEnd) -> None:
        """The admitted attempt ended: charge what it used, release the rest of ``hold``."""
        ...


AttemptGuardFactory = Callable[[DeploymentSpec], AttemptGuard | None]
"""Builds a deployment's extra guard at ``open()`` (None: none for this deployment)."""
