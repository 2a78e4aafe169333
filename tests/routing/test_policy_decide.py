"""The failure policy, table-tested: ``decide(error, context)`` is the only place that decides
retry, fall back or raise, and the documents' tables are generated from its rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from automatosx import Backoff
from automatosx import errors as E
from automatosx._routing.policy import (
    FALL_BACK,
    RAISE,
    AttemptContext,
    Retry,
    counts_against_breaker,
    decide,
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
    decision = decide(error, ctx())
    kind = {Retry: "retry", type(FALL_BACK): "fallback", type(RAISE): "raise"}[type(decision)]
    assert kind == expected


def test_retry_waits_the_backoff_or_the_servers_retry_after() -> None:
    decision = decide(E.ServerError("500", provider="p"), ctx())
    assert isinstance(decision, Retry)
    assert 0 <= decision.delay_ms <= 100  # full jitter under the 100 ms cap
    err = E.RateLimitError("429", provider="p", retry_after=0.25)
    assert decide(err, ctx()) == Retry(250)


def test_retry_after_beyond_patience_falls_back_now() -> None:
    err = E.RateLimitError("429", provider="p", retry_after=5)
    assert decide(err, ctx()) is FALL_BACK


def test_no_retry_left_falls_back() -> None:
    assert decide(E.ServerError("500", provider="p"), ctx(retry_count=2)) is FALL_BACK


def test_stream_past_its_first_chunk_restarts_only_when_allowed() -> None:
    err = E.ProviderConnectionError("cut", provider="p")
    assert isinstance(decide(err, ctx(streamed=True)), Retry)
    assert decide(err, ctx(streamed=True, restart_streams=False)) is RAISE
    assert decide(err, ctx(streamed=True, retry_count=2)) is FALL_BACK


def test_breaker_counts_provider_faults_only() -> None:
    assert counts_against_breaker(E.ServerError("500", provider="p"))
    assert counts_against_breaker(silent_timeout())
    assert not counts_against_breaker(E.RateLimitError("429", provider="p"))
    assert not counts_against_breaker(E.InvalidRequestError("400", provider="p"))
    assert rule_for(E.RateLimitError("429", provider="p")).cools


def test_a_subclass_without_a_rule_takes_its_bases_rule() -> None:
    class TeapotError(E.InvalidRequestError):
        pass

    assert decide(TeapotError("418", provider="p"), ctx()) is RAISE


@pytest.mark.parametrize(
    "document", ["README.md", "docs/architecture.md", "docs/guides/failure-policy.md"]
)
def test_documented_policy_table_is_generated_from_the_rules(document: str) -> None:
    assert policy_table() in (ROOT / document).read_text()
