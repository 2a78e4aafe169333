"""The failure policy, table-tested: ``decide(error, context)`` is the only place that decides
retry, fall back or raise, and the documents' tables are generated from its rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from automatosx import Backoff
from automatosx import errors as E
from automatosx._core import State
from automatosx._routing.policy import (
    FALL_BACK,
    RAISE,
    AttemptContext,
    Decision,
    Retry,
    counts_against_breaker,
    decide,
    machine_events,
    policy_table,
    rule_for,
)

ROOT = Path(__file__).resolve().parents[2]
BACKOFF = Backoff(base_ms=100, cap_ms=100, max_wait_ms=1_000)


def ctx(**kw: object) -> AttemptContext:
    base: dict[str, object] = {"retry_count": 0, "max_retries": 2, "backoff": BACKOFF}
    base.update(kw)
    return AttemptContext(**base)  # type: ignore[arg-type]


def silent_timeout() -> E.ProviderTimeoutError:
    return E.ProviderTimeoutError("no reply", provider="p")


def late_timeout() -> E.ProviderTimeoutError:
    return E.ProviderTimeoutError("no chunk", provider="p", received=True)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (E.RateLimitError("429", provider="p"), "retry"),
        (E.OverloadedError("529", provider="p"), "retry"),
        (E.ServerError("500", provider="p"), "retry"),
        (E.ProviderConnectionError("reset", provider="p"), "retry"),
        (late_timeout(), "retry"),
        (silent_timeout(), "fallback"),
        (E.AuthenticationError("401", provider="p"), "fallback"),
        (E.ModelNotFoundError("404", provider="p"), "fallback"),
        (E.ProviderError("405", provider="p", status_code=405), "fallback"),
        (E.InvalidRequestError("400", provider="p"), "raise"),
    ],
)
def test_decide_first_failure(error: E.ProviderError, expected: str) -> None:
    action = decide(error, ctx()).action
    kind = {Retry: "retry", type(FALL_BACK): "fallback", type(RAISE): "raise"}[type(action)]
    assert kind == expected


def test_retry_waits_the_backoff_or_the_servers_retry_after() -> None:
    action = decide(E.ServerError("500", provider="p"), ctx()).action
    assert isinstance(action, Retry)
    assert 0 <= action.delay_ms <= 100  # full jitter under the 100 ms cap
    err = E.RateLimitError("429", provider="p", retry_after=0.25)
    assert decide(err, ctx()).action == Retry(250)


def test_retry_after_beyond_patience_falls_back_now() -> None:
    err = E.RateLimitError("429", provider="p", retry_after=5)
    assert decide(err, ctx()).action is FALL_BACK


def test_no_retry_left_falls_back() -> None:
    assert decide(E.ServerError("500", provider="p"), ctx(retry_count=2)).action is FALL_BACK


def test_stream_past_its_first_chunk_restarts_only_when_allowed() -> None:
    err = E.ProviderConnectionError("cut", provider="p")
    assert isinstance(decide(err, ctx(streamed=True)).action, Retry)
    assert decide(err, ctx(streamed=True, restart_streams=False)).action is RAISE
    assert decide(err, ctx(streamed=True, retry_count=2)).action is FALL_BACK


def test_breaker_counts_provider_faults_only() -> None:
    assert counts_against_breaker(E.ServerError("500", provider="p"))
    assert counts_against_breaker(silent_timeout())
    assert not counts_against_breaker(E.RateLimitError("429", provider="p"))
    assert not counts_against_breaker(E.InvalidRequestError("400", provider="p"))
    assert rule_for(E.RateLimitError("429", provider="p")).cools


def test_a_subclass_without_a_rule_takes_its_bases_rule() -> None:
    class TeapotError(E.InvalidRequestError):
        pass

    assert decide(TeapotError("418", provider="p"), ctx()).action is RAISE


@pytest.mark.parametrize(
    "document", ["README.md", "docs/architecture.md", "docs/guides/failure-policy.md"]
)
def test_documented_policy_table_is_generated_from_the_rules(document: str) -> None:
    assert policy_table() in (ROOT / document).read_text()


def test_a_decision_carries_the_breaker_verdict_and_the_cool_down() -> None:
    err = E.RateLimitError("429", provider="p", retry_after=0.25)
    assert decide(err, ctx()) == Decision(Retry(250), "neutral", 250, True)
    assert decide(E.RateLimitError("429", provider="p"), ctx()).cool_ms is None
    server = decide(E.ServerError("500", provider="p"), ctx(retry_count=2))
    assert (server.action, server.breaker, server.cool_ms, server.rate_limited) == (
        FALL_BACK,
        "failure",
        None,
        False,
    )
    # beside the main attempt (a hedge): only the breaker's verdict and the cool-down count
    assert decide(err, None) == Decision(FALL_BACK, "neutral", 250, True)


def _machine(max_retries: int = 2) -> object:
    from automatosx._core import Event, ProviderStateMachine

    m = ProviderStateMachine("r", max_retries=max_retries, fallback_providers=["b/m"])
    m.transition(Event.initiate_request(provider="a", model="m", message_count=1))
    m.transition(Event.validation_passed())
    return m


@pytest.mark.parametrize(
    ("error", "retry_count", "state"),
    [
        (E.ServerError("500", provider="p"), 0, State.retrying),
        (E.ServerError("500", provider="p"), 2, State.failed),
        (E.RateLimitError("429", provider="p", retry_after=0.1), 0, State.retrying),
        (E.RateLimitError("429", provider="p", retry_after=0.1), 2, State.failed),
        (E.InvalidRequestError("400", provider="p"), 0, State.failed),
    ],
)
def test_machine_events_bring_the_machine_where_the_decision_says(
    error: E.ProviderError, retry_count: int, state: State
) -> None:
    m = _machine()
    decision = decide(error, ctx(retry_count=retry_count))
    for event in machine_events(decision, error, restart=False):
        m.transition(event)  # type: ignore[attr-defined]
    assert m.state == state  # type: ignore[attr-defined]
    if state == State.failed:
        assert m.context.error_code == error.code  # type: ignore[attr-defined]
