"""The admission chain of one attempt: the deployment's guard, then its attempt guards.

:func:`admit` asks the deployment's :class:`~automatosx.guards.Guard` (limiter, cool-down,
breaker), then each of its :class:`~automatosx.guards.AttemptGuard` s (built once by the
factories handed to the plan) with the attempt's :class:`~automatosx.guards.AttemptSpec`.
What the attempt guards hold is kept in :class:`Admissions` (one per request, owned by its
``Run``) until the attempt ends; each admission is settled exactly once
(:class:`~automatosx.guards.AttemptEnd`). A request with no attempt guard anywhere shares one
:data:`NO_ADMISSIONS`, which does nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from automatosx.guards import (
    Admit,
    AttemptEnd,
    AttemptGuard,
    AttemptSpec,
    RejectRequest,
    Skip,
    SkipCandidate,
)

if TYPE_CHECKING:
    from automatosx._routing.plan import Deployment
    from automatosx.schemas import ProviderRequest, TokenUsage

__all__ = ["NO_ADMISSIONS", "Admissions", "admit"]

Ending = Literal["success", "failure", "cancelled", "cancelled_hedge", "skipped"]
Held = list[tuple[AttemptGuard, AttemptSpec, Any]]


class Admissions:
    """What the attempt guards hold for a request's attempts under way: the main attempt
    and a hedge beside it."""

    __slots__ = ("main", "side")

    def __init__(self) -> None:
        self.main: Held = []
        self.side: Held = []

    def keep(self, held: Held, side: bool) -> None:
        if side:
            self.side = held
        else:
            self.main = held

    def settle(
        self,
        outcome: Ending,
        *,
        side: bool = False,
        usage: TokenUsage | None = None,
        delivered: int = 0,
        before_any_byte: bool | None = None,
    ) -> None:
        held = self.side if side else self.main
        if not held:
            return
        if side:
            self.side = []
        else:
            self.main = []
        nothing = (usage is None and delivered == 0) if before_any_byte is None else before_any_byte
        end = AttemptEnd(outcome, usage, delivered, nothing)
        for guard, spec, hold in held:
            guard.settle(spec, hold, end)

    def promote(self) -> None:
        """The hedge won: what it holds is the main attempt's now."""
        self.main, self.side = self.side, []


class _NoAdmissions(Admissions):
    """For plans without attempt guards: nothing is ever held."""

    __slots__ = ()

    def keep(self, held: Held, side: bool) -> None:  # pragma: no cover - never held
        raise AssertionError("no attempt guard is configured")

    def settle(
        self,
        outcome: Ending,
        *,
        side: bool = False,
        usage: TokenUsage | None = None,
        delivered: int = 0,
        before_any_byte: bool | None = None,
    ) -> None:
        return None

    def promote(self) -> None:
        return None


NO_ADMISSIONS: Admissions = _NoAdmissions()


async def admit(
    dep: Deployment,
    model: str,
    request: ProviderRequest,
    number: int,
    tokens: Any,
    patience_ms: int,
) -> tuple[Skip | RejectRequest | None, Held]:
    """Ask the chain. Returns why to skip (or the rejection) and what was held; on a skip or
    a rejection by a later guard, what the earlier ones held is released at once."""
    skip = await dep.guard.admit(tokens, patience_ms)
    if skip is not None or not dep.extra_guards:
        return skip, []
    spec = AttemptSpec(dep.name, dep.kind, model, request, number, tokens)
    held: Held = []
    for guard in dep.extra_guards:
        answer = await guard.admit(spec)
        if type(answer) is Admit:
            held.append((guard, spec, answer.hold))
            continue
        end = AttemptEnd("skipped")
        for earlier, earlier_spec, hold in held:
            earlier.settle(earlier_spec, hold, end)
        dep.guard.released()  # the deployment's guard admitted an attempt never sent
        if isinstance(answer, SkipCandidate):
            return answer.reason, []
        if isinstance(answer, RejectRequest):
            return answer, []
        raise TypeError(
            f"attempt guard {type(guard).__name__}.admit returned {type(answer).__name__}; "
            "expected Admit, SkipCandidate or RejectRequest"
        )
    return None, held
