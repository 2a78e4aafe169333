"""The failure policy: the one place that decides what a failed attempt leads to.

``decide(error, ctx)`` answers :class:`Retry` (the same deployment, after ``delay_ms``),
:data:`FALL_BACK` (the next candidate) or :data:`RAISE` (end the request with this error).
Everything else asks it: the attempt loop acts on the answer, the Rust state machine is told
the answer (``request_failed(retryable=...)``) and only checks its invariants (retries left,
no chunk streamed unless restarting, a fallback left), and the failure-policy tables of the
README and docs/architecture.md are tested against :data:`RULES`.

A rule is found by the error's class, most specific first (a subclass can override its base).
``breaker`` says what the attempt does to the deployment's circuit breaker; ``cools`` that a
429's retry-after cools the deployment for every request.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from automatosx import errors as E
from automatosx._core import Backoff

__all__ = [
    "FALL_BACK",
    "RAISE",
    "RULES",
    "AttemptContext",
    "Decision",
    "FallBack",
    "Raise",
    "Retry",
    "Rule",
    "decide",
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
Decision = Retry | FallBack | Raise


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


def decide(error: E.ProviderError, ctx: AttemptContext) -> Decision:
    """Retry the same deployment, fall back to the next candidate, or raise.

    Retry needs: a rule that retries this error, a retry left, a backoff delay within the
    caller's patience (``None`` from :meth:`Backoff.delay_ms` means "fall back now"), and —
    once a chunk reached the caller — stream restarts allowed. Otherwise fall back when the
    rule allows it; a stream past its first chunk falls back only as a restart.
    """
    rule = rule_for(error)
    may_continue = not ctx.streamed or ctx.restart_streams
    if may_continue and ctx.retry_count < ctx.max_retries and rule.retries(error):
        delay = ctx.backoff.delay_ms(ctx.retry_count, error.retry_after_ms)
        if delay is not None:
            return Retry(delay)
    if may_continue and rule.falls_back(ctx):
        return FALL_BACK
    return RAISE


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
