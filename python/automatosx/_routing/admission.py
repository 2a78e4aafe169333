"""The admission chain of one attempt: the deployment's guard, then its attempt guards.

``Run.admit`` asks the deployment's :class:`~automatosx.guards.Guard` (limiter, cool-down,
breaker), then :func:`admit_now` or :func:`admit` each of its
:class:`~automatosx.guards.AttemptGuard` s (built once by the factories handed to the plan)
with the attempt's :class:`~automatosx.guards.AttemptSpec`.
What the attempt guards hold is kept in :class:`Admissions` (one per request, owned by its
``Run``) until the attempt ends; each admission is settled exactly once
(:class:`~automatosx.guards.AttemptEnd`). A request with no attempt guard anywhere shares one
:data:`NO_ADMISSIONS`, which does nothing.

**The synchronous fast path.** An attempt guard may also offer
``admit_now(deployment, kind, model, request, number, walk=None)``, answering without an
``await`` and without an ``AttemptSpec`` (``walk``: what the one walk over the request's
messages measured, ``estimate.prompt_walk``, so that a budget does not walk them again): a
*holding* (an object whose ``end(outcome, usage, delivered_tokens, before_any_byte)``
settles it, e.g. a budget reservation), None (admitted, nothing held: no budget matches), or
False (no answer here: its ``admit`` is awaited, e.g. a refusal that may wait for a fleet's
lease). Every other guard goes through ``admit`` and
``settle``, its hold kept in a :class:`GuardHold`; both kinds are settled the same way.

``Run.admit`` asks the deployment's guard itself, then :func:`admit_now`: a deployment whose
one attempt guard answers synchronously (the budgets) is admitted with no coroutine of its
own; any other chain is awaited (:func:`admit`). A successful attempt's holdings are settled
by :meth:`Admissions.succeeded` (no keywords to parse on that path).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, Protocol

from automatosx._routing.estimate import prompt_walk
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

__all__ = ["NO_ADMISSIONS", "Admissions", "GuardHold", "Holding", "Verdict", "admit", "admit_now"]

Verdict = Skip | RejectRequest | None
"""What an admission answers: None (admitted), why to skip, or the request's rejection."""
Ending = Literal["success", "failure", "cancelled", "cancelled_hedge", "skipped"]


class Holding(Protocol):
    """What an admitted attempt holds until it ends; settled exactly once."""

    def end(
        self, outcome: str, usage: TokenUsage | None, delivered: int, before_any_byte: bool
    ) -> None: ...


Held = list[Holding]


class GuardHold:
    """The hold of an attempt guard admitted through ``admit``: settled by its ``settle``."""

    __slots__ = ("guard", "hold", "spec")

    def __init__(self, guard: AttemptGuard, spec: AttemptSpec, hold: Any) -> None:
        self.guard = guard
        self.spec = spec
        self.hold = hold

    def end(
        self, outcome: str, usage: TokenUsage | None, delivered: int, before_any_byte: bool
    ) -> None:
        end = AttemptEnd(outcome, usage, delivered, before_any_byte)  # type: ignore[arg-type]
        self.guard.settle(self.spec, self.hold, end)


class Admissions:
    """What the attempt guards hold for a request's attempts under way: the main attempt
    and a hedge beside it."""

    __slots__ = ("main", "side")

    def __init__(self) -> None:
        self.main: Held = _EMPTY
        self.side: Held = _EMPTY

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
        if side:
            held, self.side = self.side, _EMPTY
        else:
            held, self.main = self.main, _EMPTY
        if held:
            if before_any_byte is None:
                before_any_byte = usage is None and delivered == 0
            for holding in held:
                holding.end(outcome, usage, delivered, before_any_byte)

    def succeeded(self, usage: TokenUsage) -> None:
        """The main attempt succeeded with ``usage``: :meth:`settle` ``"success"``."""
        held = self.main
        if held:
            self.main = _EMPTY
            for holding in held:
                holding.end("success", usage, 0, False)

    def promote(self) -> None:
        """The hedge won: what it holds is the main attempt's now."""
        self.main, self.side = self.side, _EMPTY


_EMPTY: Held = []  # never appended to: whatever is held is a list of its own


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

    def succeeded(self, usage: TokenUsage) -> None:
        return None

    def promote(self) -> None:
        return None


NO_ADMISSIONS: Admissions = _NoAdmissions()


def admit_now(dep: Deployment, model: str, request: ProviderRequest, number: int) -> Held | None:
    """After the deployment's guard admitted the attempt: what its one attempt guard's
    ``admit_now`` holds (``_EMPTY``: nothing), or None when the chain must be awaited
    (:func:`admit`: several guards, one without ``admit_now``, or a refusal)."""
    guards = dep.extra_guards
    if len(guards) != 1:
        return None
    now = getattr(guards[0], "admit_now", None)
    if now is None:
        return None
    holding = now(dep.name, dep.kind, model, request, number, prompt_walk(request))
    if holding is None:
        return _EMPTY
    if holding is False:
        return None
    return [holding]


async def admit(
    dep: Deployment,
    model: str,
    request: ProviderRequest,
    number: int,
    tokens: Any,
) -> tuple[Verdict, Held]:
    """Ask the attempt guards, after the deployment's guard admitted the attempt. Returns
    why to skip (or the rejection) and what was held; on a skip or a rejection by a later
    guard, what the earlier ones held is released at once, and the deployment's guard is
    told the attempt was never sent."""
    guards = dep.extra_guards
    held: Held = []
    spec: AttemptSpec | None = None
    for guard in guards:
        now = getattr(guard, "admit_now", None)
        if now is not None:
            holding = now(dep.name, dep.kind, model, request, number)
            if holding is None:
                continue
            if holding is not False:
                held.append(holding)
                continue
        if spec is None:
            spec = AttemptSpec(dep.name, dep.kind, model, request, number, tokens)
        answer = await guard.admit(spec)
        if type(answer) is Admit:
            held.append(GuardHold(guard, spec, answer.hold))
            continue
        for earlier in held:
            earlier.end("skipped", None, 0, True)
        dep.guard.released()  # the deployment's guard admitted an attempt never sent
        if isinstance(answer, SkipCandidate):
            return answer.reason, _EMPTY
        if isinstance(answer, RejectRequest):
            return answer, _EMPTY
        raise TypeError(
            f"attempt guard {type(guard).__name__}.admit returned {type(answer).__name__}; "
            "expected Admit, SkipCandidate or RejectRequest"
        )
    return None, held
