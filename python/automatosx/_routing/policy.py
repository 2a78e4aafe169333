"""The failure policy: the one place that decides what a failed attempt leads to.

``decide(error, ctx)`` returns a :class:`Decision`: everything the failure changes. Its
``action`` is :class:`Retry` (the same deployment, after ``delay_ms``), :data:`FALL_BACK` (the
next candidate) or :data:`RAISE` (end the request with this error); ``breaker`` is the
breaker's verdict (``failure`` or ``neutral``); ``cool_ms`` how long a 429's retry-after cools
the deployment for every request; ``rate_limited`` that the machine hears ``rate_limit_hit``.
:func:`machine_events` is the one translation of a decision into state-machine events; the
machine only checks its invariants (retries left, no chunk streamed unless restarting, a
fallback left). The error classes' ``retryable``/``fallback``/``counts_against_breaker`` are
read from :data:`RULES` (``errors.py``), and the failure-policy tables of the README and
docs/architecture.md are generated from it (a test compares them).

A rule is found by the error's class, most specific first (a subclass can override its base).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from automatosx import errors as E
from automatosx._core import Backoff, Event

__all__ = [
    "FALL_BACK",
    "RAISE",
    "RULES",
    "Action",
    "AttemptContext",
    "Decision",
    "FallBack",
    "Raise",
    "Retry",
    "Rule",
    "as_provider_error",
    "decide",
    "machine_events",
    "rule_for",
]


@dataclass(frozen=True, slots=True)
class Retry:
    """Try the same deployment again after ``delay_ms``."""

    delay_ms: int


@dataclass(frozen=True, slots=True)
class FallBack:
    """Move on to the next candidate."""


@dataclass(frozen=True, slots=True)
class Raise:
    """End the request with this error (no candidate would answer differently)."""


FALL_BACK = FallBack()
RAISE = Raise()
Action = Retry | FallBack | Raise
"""What the request does next."""


@dataclass(frozen=True, slots=True)
class AttemptContext:
    """What the decision depends on besides the error."""

    retry_count: int
    """Retries already made on this candidate."""
    max_retries: int
    backoff: Backoff
    streamed: bool = False
    """A chunk of this attempt already reached the caller."""
    restart_streams: bool = True
    """``RouterOptions.restartStreams``: a stream that failed mid-reply may start again."""
    fallback_on_content_filter: bool = False


Breaker = Literal["failure", "neutral"]


@dataclass(frozen=True, slots=True)
class Decision:
    """Everything one failed attempt changes: what the request does next, what the attempt
    does to the deployment's breaker and cool-down, and how the machine hears it."""

    action: Action
    breaker: Breaker
    """``failure`` moves the breaker towards open; ``neutral`` only frees a probe slot."""
    cool_ms: int | None
    """Cool the deployment (every request skips it) for this long: a 429's retry-after."""
    rate_limited: bool
    """The machine hears ``rate_limit_hit`` (a 429) rather than ``request_failed``."""

    @property
    def retry(self) -> bool:
        return type(self.action) is Retry


@dataclass(frozen=True, slots=True)
class Rule:
    """What one class of failure does. ``retry`` may depend on the error (a timeout after
    bytes arrived is retried, silence is not)."""

    retry: bool | Callable[[E.ProviderError], bool]
    fallback: bool | Literal["content_filter_option"]
    breaker: Breaker
    cools: bool = False
    summary: str = ""

    def retries(self, error: E.ProviderError) -> bool:
        return self.retry if isinstance(self.retry, bool) else self.retry(error)

    def falls_back(self, ctx: AttemptContext) -> bool:
        if isinstance(self.fallback, bool):
            return self.fallback
        return ctx.fallback_on_content_filter


def _after_bytes(error: E.ProviderError) -> bool:
    return bool(getattr(error, "received", False))


def _rules() -> dict[type[E.ProviderError], Rule]:
    return {
        E.RateLimitError: Rule(True, True, "neutral", cools=True, summary="429 rate limit"),
        E.OverloadedError: Rule(True, True, "failure", summary="529 overloaded"),
        E.ServerError: Rule(True, True, "failure", summary="500/502/503/504, error event"),
        E.ProviderTimeoutError: Rule(_after_bytes, True, "failure", summary="timeout"),
        E.ProviderConnectionError: Rule(
            True, True, "failure", summary="connection error, stream cut or unterminated"
        ),
        E.AuthenticationError: Rule(False, True, "neutral", summary="401/403"),
        E.ModelNotFoundError: Rule(False, True, "neutral", summary="404 unknown model"),
        E.ContextLengthError: Rule(False, True, "neutral", summary="context length exceeded"),
        E.ContentFilterError: Rule(
            False, "content_filter_option", "neutral", summary="content filter, refusal"
        ),
        E.InvalidRequestError: Rule(False, False, "neutral", summary="400/413/422"),
        E.ProviderError: Rule(
            False, True, "neutral", summary="any other 4xx (405, 409, ...), adapter error"
        ),
    }


RULES: dict[type[E.ProviderError], Rule] = _rules()
_BY_CLASS: dict[type[BaseException], Rule] = {}


def rule_for(error: E.ProviderError) -> Rule:
    """The rule of the most specific class in ``RULES`` that ``error`` is an instance of."""
    cls = type(error)
    rule = _BY_CLASS.get(cls)
    if rule is None:
        for base in cls.__mro__:
            found = RULES.get(base)
            if found is not None:
                rule = found
                break
        else:  # pragma: no cover - every ProviderError has ProviderError in its MRO
            rule = RULES[E.ProviderError]
        _BY_CLASS[cls] = rule
    return rule


def decide(error: E.ProviderError, ctx: AttemptContext | None) -> Decision:
    """Everything ``error`` changes: retry the same deployment, fall back to the next
    candidate, or raise; the breaker's verdict; the deployment's cool-down.

    Retry needs: a rule that retries this error, a retry left, a backoff delay within the
    caller's patience (``None`` from :meth:`Backoff.delay_ms` means "fall back now"), and —
    once a chunk reached the caller — stream restarts allowed. Otherwise fall back when the
    rule allows it; a stream past its first chunk falls back only as a restart. With
    ``ctx=None`` (an attempt beside the main one: a hedge) the action is FALL_BACK and only
    the breaker's verdict and the cool-down matter.
    """
    rule = rule_for(error)
    retry_after = error.retry_after_ms
    cool = retry_after if rule.cools and retry_after else None
    limited = rule.cools
    if ctx is None:
        return Decision(FALL_BACK, rule.breaker, cool, limited)
    may_continue = not ctx.streamed or ctx.restart_streams
    if may_continue and ctx.retry_count < ctx.max_retries and rule.retries(error):
        delay = ctx.backoff.delay_ms(ctx.retry_count, retry_after)
        if delay is not None:
            return Decision(Retry(delay), rule.breaker, cool, limited)
    if may_continue and rule.falls_back(ctx):
        return Decision(FALL_BACK, rule.breaker, cool, limited)
    return Decision(RAISE, rule.breaker, cool, limited)


_RETRY = Event.retry_request()
_RESTART = Event.retry_request(restart=True)


def machine_events(decision: Decision, error: E.ProviderError, restart: bool) -> list[Event]:
    """The state-machine events that say ``decision`` about the attempt that failed with
    ``error`` — the only place a decision becomes events. A retry ends in ``retrying``
    (``restart``: a chunk had reached the caller); a fall-back or raise ends in ``failed``
    (moving to the next candidate is ``fallback_to_provider``, sent by whoever moves). The
    machine refuses (``InvalidTransitionError``) what its invariants forbid."""
    retry = type(decision.action) is Retry
    events: list[Event] = []
    if decision.rate_limited:
        events.append(Event.rate_limit_hit(retry_after_ms=error.retry_after_ms))
        if not retry:
            events.append(Event.request_failed(error=str(error), code=error.code, retryable=False))
    else:
        events.append(Event.request_failed(error=str(error), code=error.code, retryable=retry))
    if retry:
        events.append(_RESTART if restart else _RETRY)
    return events


def as_provider_error(exc: BaseException, provider: str, timeout_s: float) -> E.ProviderError:
    """Any exception of an attempt at ``provider`` as the ProviderError the policy judges
    (adapters raise mapped ones; a bare timeout is the attempt's ``timeout_s``)."""
    if isinstance(exc, E.ProviderError):
        return exc
    if isinstance(exc, TimeoutError):
        return E.ProviderTimeoutError(f"no reply within {timeout_s:g}s", provider=provider)
    # An adapter that broke its contract (raised something unmapped): fall back, never retry.
    return E.ProviderError(
        f"adapter raised {type(exc).__name__}: {exc}", provider=provider, code="PROVIDER_ERROR"
    )


def counts_against_breaker(error: E.ProviderError) -> bool:
    """Whether the attempt is a breaker failure (else it is neutral)."""
    return rule_for(error).breaker == "failure"


def _retry_cell(rule: Rule) -> str:
    if isinstance(rule.retry, bool):
        return "yes" if rule.retry else "no"
    return "only after bytes arrived"


def _fallback_cell(rule: Rule) -> str:
    if rule.fallback == "content_filter_option":
        return "only with `fallbackOnContentFilter`"
    return "yes" if rule.fallback else "no — raised at once"


def _breaker_cell(rule: Rule) -> str:
    if rule.breaker == "failure":
        return "failure"
    return "neutral; cools the deployment until retry-after" if rule.cools else "neutral"


def policy_table() -> str:
    """The failure-policy table of the README and docs/architecture.md, generated from
    :data:`RULES` (a test keeps both documents equal to it)."""
    lines = [
        "| failure | class | retry same deployment | fall back | breaker |",
        "|---|---|---|---|---|",
    ]
    for cls, rule in RULES.items():
        lines.append(
            f"| {rule.summary} | `{cls.__name__}` | {_retry_cell(rule)} | "
            f"{_fallback_cell(rule)} | {_breaker_cell(rule)} |"
        )
    return "\n".join(lines)
