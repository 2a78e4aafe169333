"""Observers of a request's life: the seam for recording, telemetry and your own hooks.

Subclass :class:`Observer` and override the events you need; pass instances as
``Router(..., observers=[...])``. The router calls each overridden method, in order, and
awaits it; a method that is not overridden costs nothing (the router never calls it), and a
router with no observer does no work for them. The store's recording is itself an observer.

Events, in the order one request produces them::

    request_started                 the request passed validation (not sent for invalid input)
      candidate_skipped*            a deployment was passed over (open breaker, rate limit)
      attempt_started               an attempt is about to be sent
        chunk*                      a streamed chunk reached the caller (streams only)
      attempt_ended                 its outcome, the policy's decision, the breaker's state
      stream_restarted*             a failed stream starts again (the next chunk restarts at 0)
      limiter_waited*               an attempt waited for its deployment's limiter (or a
                                    429's cool-down) before it was sent (or skipped)
    request_finished                the terminal state: once per request, invalid ones too

    budget_alert                    a budget's spend crossed its ``alertAt`` (once a window)

An observer may also define ``<event>_now`` with the same arguments (the router's store
recorder and the telemetry observers do): a plain function the router calls instead of the
coroutine, with no await, when the class that defines it is the one that (last) overrides
the coroutine. It does what the coroutine does and returns None, or, when it must wait, an
awaitable (the coroutine's work from there) that the router awaits before the next observer.

An exception raised by an observer propagates to the caller (the SQLite store in
``durability="sync"`` relies on this to raise ``StoreError``); observers that must never fail
a request (telemetry) catch their own errors.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from automatosx.schemas import ProviderRequest, ProviderResponse

__all__ = [
    "AttemptInfo",
    "BudgetAlert",
    "Observer",
    "Observers",
    "RequestEnd",
    "RequestInfo",
    "SkipInfo",
    "WaitInfo",
]

AttemptOutcome = Literal["success", "failure", "cancelled", "cancelled_hedge"]
AttemptDecision = Literal["retry", "fallback", "raise"]
"""What the failure policy did after an attempt (``AttemptInfo.decision``)."""


@dataclass(slots=True)
class RequestInfo:
    """One request, as every event of it sees it."""

    request_id: str
    request: ProviderRequest | None
    """The validated request (None for input that failed validation)."""
    stream: bool
    provider: str
    """The deployment asked for (the request's, else the primary)."""
    model: str
    created_at: int
    """Epoch ms when the request entered the router."""
    started_ns: int
    """``time.perf_counter_ns()`` at entry, for durations."""
    raw: Any = None
    """The input as given, when it failed validation (``request`` is None then)."""


@dataclass(slots=True)
class AttemptInfo:
    """One try of one deployment. Filled in as the attempt goes: ``duration_ms``,
    ``outcome``, ``error``, ``decision`` and ``retry_delay_ms`` are set when it ends."""

    number: int
    """1-based over the whole request."""
    provider: str
    model: str
    started_ns: int
    restart: bool = False
    """A stream attempt that restarts a failed one."""
    duration_ms: int = 0
    outcome: AttemptOutcome = "success"
    error: BaseException | None = None
    decision: AttemptDecision | None = None
    retry_delay_ms: int | None = None
    breaker_state: str | None = None
    first_chunk_ms: int | None = None
    """Streams: time from the attempt's start to its first chunk."""
    kind: str = ""
    """The deployment's provider kind (``claude``, ``openai``, ``gemini`` or a user adapter's
    name); ``provider`` is the deployment id. Empty when unknown."""
    followed_pin: bool = False
    """Sticky routing sent this attempt to the deployment its conversation was pinned to
    (set by the sticky routing's observer when the attempt starts)."""


@dataclass(slots=True)
class SkipInfo:
    """A deployment passed over without sending anything."""

    provider: str
    model: str
    reason: BaseException
    code: str
    breaker_state: str | None = None


@dataclass(slots=True)
class WaitInfo:
    """An attempt's wait at admission: its deployment's rate limiter (or a 429's cool-down)
    held it back before it was sent (``limiter_waited``)."""

    provider: str
    """The deployment id."""
    model: str
    waited_ms: float
    reason: Literal["limiter", "cooldown"]
    """``limiter``: the requests/tokens a minute; ``cooldown``: a 429's retry-after."""
    attempt: int
    """The number (1-based over the request) of the attempt that waited."""
    admitted: bool = True
    """False: after waiting, the deployment was skipped (its wait grew beyond patience)."""
    kind: str = ""
    """The deployment's provider kind."""


@dataclass(slots=True)
class RequestEnd:
    """How the request ended (``request_finished``)."""

    state: str
    """``completed`` or ``failed``."""
    history: list[str]
    retry_count: int
    error: str | None
    error_code: str | None
    response: ProviderResponse | None = None
    chunks: Sequence[tuple[int, str, int]] = field(default_factory=tuple)
    """The chunks delivered, ``(index, text, timestamp_ms)`` (streams)."""
    attempts: int = 0
    restarts: int = 0
    answered_by: str | None = None
    """A pre-request step answered the request (e.g. ``"cache"``): no attempt was made."""

    @classmethod
    def of(
        cls,
        machine: Any,
        response: ProviderResponse | None,
        chunks: Sequence[tuple[int, str, int]],
        attempts: int,
        restarts: int,
        answered_by: str | None = None,
    ) -> RequestEnd:
        """The end of a request as its state machine holds it."""
        ctx = machine.context
        return cls(
            str(machine.state),
            machine.history,
            ctx.retry_count,
            ctx.error,
            ctx.error_code,
            response,
            chunks,
            attempts,
            restarts,
            answered_by,
        )


@dataclass(frozen=True, slots=True)
class BudgetAlert:
    """A budget crossed its ``alertAt`` fraction in a window (told once per window)."""

    budget_id: str
    scope: str
    """``"*"``, or the scope value (``"user=alice"``)."""
    unit: str
    """``"usd"`` or ``"tokens"``: which limit was crossed."""
    limit: float
    spent: float
    alert_at: float
    window: str
    window_start: int
    """Epoch seconds."""
    resets_at: int | None
    """Epoch seconds when the window ends (None for ``total``)."""


class Observer:
    """Base class of observers: every event is a no-op coroutine; override what you need."""

    def bind_deployments(self, deployments: Mapping[str, Any]) -> None:
        """Called once when the router opens, after every guard was built, before any
        request: the deployments by id, each with ``name``, ``kind``, ``group``,
        ``provider`` (the adapter) and ``guard`` (its admission; ``guard.breaker_state``
        reads the breaker requests go through). Keep what you need; never change them."""
        return None

    async def request_started(self, request: RequestInfo) -> None:
        return None

    async def candidate_skipped(self, request: RequestInfo, skip: SkipInfo) -> None:
        return None

    async def attempt_started(self, request: RequestInfo, attempt: AttemptInfo) -> None:
        return None

    async def chunk(self, request: RequestInfo, index: int, text: str) -> None:
        return None

    async def attempt_ended(self, request: RequestInfo, attempt: AttemptInfo) -> None:
        return None

    async def stream_restarted(self, request: RequestInfo, attempt: AttemptInfo) -> None:
        return None

    async def request_finished(self, request: RequestInfo, outcome: RequestEnd) -> None:
        return None

    async def limiter_waited(self, request: RequestInfo, wait: WaitInfo) -> None:
        """An attempt of ``request`` waited for its deployment's limiter or cool-down."""
        return None

    async def budget_alert(self, alert: BudgetAlert) -> None:
        return None

    async def aclose(self) -> None:
        """Called once when the router closes."""
        return None


_EVENTS = (
    "request_started",
    "candidate_skipped",
    "attempt_started",
    "chunk",
    "attempt_ended",
    "stream_restarted",
    "request_finished",
    "limiter_waited",
    "budget_alert",
)


class Observers:
    """The observers of a router, grouped by the events each one overrides (computed once,
    so the hot path tests one tuple per event). ``<event>_calls``: what to call for each of
    them, in order: its ``<event>_now`` when it has one (the result awaited when it is not
    None), else its coroutine method."""

    __slots__ = ("all", "any", *_EVENTS, *(f"{e}_calls" for e in _EVENTS))

    def __init__(self, observers: Sequence[Observer] = ()) -> None:
        for obs in observers:
            if not isinstance(obs, Observer):
                raise TypeError(
                    f"observers: expected automatosx.Observer instances, got {type(obs).__name__}"
                )
        self.all: tuple[Observer, ...] = tuple(observers)
        for event in _EVENTS:
            base = getattr(Observer, event)
            chosen = tuple(o for o in self.all if getattr(type(o), event) is not base)
            setattr(self, event, chosen)
            setattr(self, f"{event}_calls", tuple(_call_of(o, event) for o in chosen))
        self.any = bool(self.all)

    # Typed views of the per-event tuples set above.
    request_started: tuple[Observer, ...]
    candidate_skipped: tuple[Observer, ...]
    attempt_started: tuple[Observer, ...]
    chunk: tuple[Observer, ...]
    attempt_ended: tuple[Observer, ...]
    stream_restarted: tuple[Observer, ...]
    request_finished: tuple[Observer, ...]
    limiter_waited: tuple[Observer, ...]
    budget_alert: tuple[Observer, ...]
    request_started_calls: tuple[Call, ...]
    candidate_skipped_calls: tuple[Call, ...]
    attempt_started_calls: tuple[Call, ...]
    chunk_calls: tuple[Call, ...]
    attempt_ended_calls: tuple[Call, ...]
    stream_restarted_calls: tuple[Call, ...]
    request_finished_calls: tuple[Call, ...]
    limiter_waited_calls: tuple[Call, ...]
    budget_alert_calls: tuple[Call, ...]
    all: tuple[Observer, ...]
    any: bool


Call = Callable[..., "Awaitable[None] | None"]
"""An observer's event as the router calls it: None when done, else an awaitable to await."""


def _owner(cls: type, name: str) -> type | None:
    """The class of ``cls``'s MRO that defines ``name``."""
    for klass in cls.__mro__:
        if name in vars(klass):
            return klass
    return None


def _call_of(obs: Observer, event: str) -> Call:
    """``obs``'s ``<event>_now`` when its class defines it at or below the class that
    overrides the coroutine (a subclass that overrides only the coroutine gets it called),
    else the coroutine method."""
    now = _owner(type(obs), f"{event}_now")
    if now is not None:
        coroutine = _owner(type(obs), event)
        if coroutine is not None and issubclass(now, coroutine):
            call: Call = getattr(obs, f"{event}_now")
            return call
    method: Call = getattr(obs, event)
    return method
