"""The exception tree: shape, failure policy, redaction, pickling."""

from __future__ import annotations

import pickle

import pytest

import automatosx
from automatosx import errors
from automatosx.errors import (
    AllProvidersFailedError,
    Attempt,
    AuthenticationError,
    AutomatosxError,
    BudgetExceededError,
    CircuitOpenError,
    ConfigurationError,
    ContentFilterError,
    ContextLengthError,
    InvalidRequestError,
    InvalidTransitionError,
    MigrationError,
    ModelNotFoundError,
    OutputValidationError,
    OverloadedError,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeoutError,
    RateLimitError,
    RequestValidationError,
    ServerError,
    StoreError,
    UnpricedModelError,
    redact,
)

ANTHROPIC_KEY = "sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789_-AbCdEf"
OPENAI_KEY = "sk-proj-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"
OPENAI_LEGACY_KEY = "sk-AbCdEfGhIjKlMnOpQrStUvWxYz012345"
GOOGLE_KEY = "AIzaSyAbCdEfGhIjKlMnOpQrStUvWxYz0123456"
KEYS = [ANTHROPIC_KEY, OPENAI_KEY, OPENAI_LEGACY_KEY, GOOGLE_KEY]

PARENTS: dict[type[BaseException], type[BaseException]] = {
    ConfigurationError: AutomatosxError,
    RequestValidationError: AutomatosxError,
    InvalidTransitionError: AutomatosxError,
    ProviderError: AutomatosxError,
    RateLimitError: ProviderError,
    OverloadedError: ProviderError,
    ServerError: ProviderError,
    ProviderTimeoutError: ProviderError,
    ProviderConnectionError: ProviderError,
    AuthenticationError: ProviderError,
    ModelNotFoundError: ProviderError,
    InvalidRequestError: ProviderError,
    ContextLengthError: InvalidRequestError,
    ContentFilterError: ProviderError,
    CircuitOpenError: AutomatosxError,
    AllProvidersFailedError: AutomatosxError,
    OutputValidationError: AutomatosxError,
    StoreError: AutomatosxError,
    MigrationError: StoreError,
    BudgetExceededError: AutomatosxError,
    UnpricedModelError: BudgetExceededError,
}

# class: (retryable, fallback, counts_against_breaker, code)
POLICY: dict[type[ProviderError], tuple[bool, bool, bool, str]] = {
    ProviderError: (False, True, False, "PROVIDER_ERROR"),
    RateLimitError: (True, True, False, "RATE_LIMITED"),
    OverloadedError: (True, True, True, "OVERLOADED"),
    ServerError: (True, True, True, "SERVER_ERROR"),
    ProviderTimeoutError: (True, True, True, "TIMEOUT"),
    ProviderConnectionError: (True, True, True, "CONNECTION_ERROR"),
    AuthenticationError: (False, True, False, "AUTHENTICATION_ERROR"),
    ModelNotFoundError: (False, True, False, "NOT_FOUND"),
    InvalidRequestError: (False, False, False, "INVALID_REQUEST"),
    ContextLengthError: (False, True, False, "CONTEXT_LENGTH_EXCEEDED"),
    ContentFilterError: (False, False, False, "CONTENT_FILTERED"),
}


# -- the tree -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cls", "parent"), PARENTS.items(), ids=lambda c: getattr(c, "__name__", "")
)
def test_class_sits_under_its_parent(cls: type[BaseException], parent: type[BaseException]) -> None:
    assert issubclass(cls, parent)
    assert issubclass(cls, AutomatosxError)
    assert cls.__bases__[0] is parent


def test_every_error_is_in_the_tree_and_the_package() -> None:
    exported = {
        getattr(errors, name)
        for name in errors.__all__
        if isinstance(getattr(errors, name), type)
        and issubclass(getattr(errors, name), BaseException)
    }
    assert exported == {*PARENTS, AutomatosxError}
    for cls in exported:
        assert getattr(automatosx, cls.__name__) is cls


def test_request_validation_error_is_also_a_value_error() -> None:
    assert issubclass(RequestValidationError, ValueError)
    error = RequestValidationError("maxTokens: must be > 0", [{"loc": ("maxTokens",)}])
    assert error.errors == [{"loc": ("maxTokens",)}]


def test_errors_all_is_sorted() -> None:
    assert errors.__all__ == sorted(errors.__all__)


# -- policy -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cls", "policy"), POLICY.items(), ids=lambda c: getattr(c, "__name__", "")
)
def test_failure_policy_on_the_error_is_read_from_rules(
    cls: type[ProviderError], policy: tuple[bool, bool, bool, str]
) -> None:
    # The errors keep no policy of their own: each view is the RULES row of the class.
    from automatosx._routing.policy import RULES

    code = policy[3]
    kwargs: dict[str, object] = {"received": True} if cls is ProviderTimeoutError else {}
    error = cls("failed", provider="claude", **kwargs)  # type: ignore[arg-type]
    assert (error.retryable, error.fallback, error.counts_against_breaker) == policy[:3]
    assert error.code == code
    rule = RULES[cls]
    assert error.retryable == rule.retries(error)
    assert error.fallback == (rule.fallback is True)
    assert error.counts_against_breaker == (rule.breaker == "failure")
    for name in ("retryable", "fallback", "counts_against_breaker"):
        assert not isinstance(cls.__dict__.get(name), bool), f"{cls.__name__}.{name} is data"


def test_a_timeout_is_retryable_only_after_bytes_arrived() -> None:
    assert not ProviderTimeoutError("silence", provider="p").retryable
    assert ProviderTimeoutError("stalled", provider="p", received=True).retryable


def test_explicit_code_wins_over_the_default() -> None:
    assert ServerError("x", code="STREAM_ERROR").code == "STREAM_ERROR"


@pytest.mark.parametrize(
    ("retry_after", "ms"), [(None, None), (1.5, 1_500), (0.0004, 0), (-1.0, 0), (30, 30_000)]
)
def test_retry_after_in_milliseconds(retry_after: float | None, ms: int | None) -> None:
    assert RateLimitError("slow down", retry_after=retry_after).retry_after_ms == ms


def test_str_names_provider_and_status() -> None:
    error = RateLimitError("rate limited", provider="openai", status_code=429, retry_after=2.0)
    assert str(error) == "openai: rate limited (HTTP 429)"
    assert repr(error) == (
        "RateLimitError(provider='openai', status_code=429, code='RATE_LIMITED',"
        " retry_after=2.0, message='rate limited')"
    )


def test_timeout_says_whether_response_bytes_had_arrived() -> None:
    assert ProviderTimeoutError("slow", provider="claude").received is False
    error = ProviderTimeoutError("stalled", provider="claude", received=True)
    assert error.received is True
    assert repr(error) == (
        "ProviderTimeoutError(provider='claude', status_code=None, code='TIMEOUT',"
        " retry_after=None, received=True, message='stalled')"
    )


def test_content_filter_error_carries_the_providers_reason() -> None:
    error = ContentFilterError("blocked", provider="gemini", reason="SAFETY")
    assert (error.reason, error.code, error.retryable, error.fallback) == (
        "SAFETY",
        "CONTENT_FILTERED",
        False,
        False,
    )
    assert "reason='SAFETY'" in repr(error)
    assert ContentFilterError("blocked").reason is None


def test_context_length_error_is_an_invalid_request_that_falls_back() -> None:
    error = ContextLengthError("prompt is too long", provider="claude", status_code=400)
    assert isinstance(error, InvalidRequestError)
    assert (error.retryable, error.fallback) == (False, True)


def test_circuit_open_error_names_the_provider() -> None:
    error = CircuitOpenError("gemini")
    assert (error.provider, error.code) == ("gemini", "CIRCUIT_OPEN")
    assert "gemini" in str(error)


# -- redaction ----------------------------------------------------------------------------


@pytest.mark.parametrize("key", KEYS, ids=["anthropic", "openai", "openai-legacy", "google"])
def test_redact_removes_each_providers_key_shape(key: str) -> None:
    text = f"Invalid API key provided: {key}. See https://example.com/docs"
    redacted = redact(text)
    assert key not in redacted
    assert "[REDACTED]" in redacted
    assert redacted.startswith("Invalid API key provided: ")


@pytest.mark.parametrize(
    "text",
    [
        "Authorization: Bearer abcdefghijklmnop.qrstuvwx",
        "GET /v1beta/models?key=0123456789abcdef",
        '{"x-goog-api-key": "zyxwvutsrqponm"}',
        "api_key=verysecretvalue123",
    ],
)
def test_redact_removes_bearer_tokens_and_key_parameters(text: str) -> None:
    assert "[REDACTED]" in redact(text)
    for secret in ("abcdefghijklmnop", "0123456789abcdef", "zyxwvutsrqponm", "verysecretvalue"):
        assert secret not in redact(text)


def test_redact_removes_explicit_secrets_of_any_shape() -> None:
    assert redact("token tok_live_42 leaked", "tok_live_42") == "token [REDACTED] leaked"
    assert redact("short abc stays", "abc", None, "") == "short abc stays"


def test_redact_leaves_ordinary_text_alone() -> None:
    text = "model 'claude-sonnet-4-5' is overloaded; retry in 2s (request_id=req_123)"
    assert redact(text) == text


@pytest.mark.parametrize("key", KEYS)
def test_provider_error_never_shows_a_key(key: str) -> None:
    error = AuthenticationError(f"invalid x-api-key {key}", provider="claude", status_code=401)
    for text in (str(error), repr(error), error.message, *map(str, error.args)):
        assert key not in text


# -- AllProvidersFailedError --------------------------------------------------------------


def failed_everywhere() -> AllProvidersFailedError:
    attempts = [
        Attempt(
            "claude", "claude-sonnet-4-5", OverloadedError("overloaded", provider="claude"), 80
        ),
        Attempt("openai", "gpt-4o-mini", RateLimitError("slow", provider="openai"), 12),
    ]
    return AllProvidersFailedError(attempts, request_id="req-1")


def test_all_providers_failed_carries_each_attempt() -> None:
    error = failed_everywhere()
    assert [(a.provider, a.outcome) for a in error.attempts] == [
        ("claude", "failure"),
        ("openai", "failure"),
    ]
    assert [type(e) for e in error.errors] == [OverloadedError, RateLimitError]
    assert error.request_id == "req-1"
    assert str(error).startswith("all providers failed (2 attempts): claude/claude-sonnet-4-5")
    assert "openai/gpt-4o-mini: RateLimitError: openai: slow" in str(error)


def test_successful_attempt_has_no_error() -> None:
    attempt = Attempt("gemini", "gemini-2.5-flash", None, 5)
    assert attempt.outcome == "success"
    assert AllProvidersFailedError([attempt]).errors == []


# -- pickling (errors cross process pools and task queues) --------------------------------


@pytest.mark.parametrize("cls", list(POLICY), ids=lambda c: getattr(c, "__name__", ""))
def test_provider_errors_pickle_with_their_fields(cls: type[ProviderError]) -> None:
    error = cls("went wrong", provider="gemini", status_code=503, code="X", retry_after=1.25)
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is cls
    assert (copy.message, copy.provider, copy.status_code, copy.code, copy.retry_after) == (
        "went wrong",
        "gemini",
        503,
        "X",
        1.25,
    )
    assert str(copy) == str(error)


def test_extra_fields_survive_pickling() -> None:
    timeout = pickle.loads(pickle.dumps(ProviderTimeoutError("t", provider="x", received=True)))
    assert (type(timeout), timeout.received, timeout.provider) == (ProviderTimeoutError, True, "x")
    blocked = pickle.loads(pickle.dumps(ContentFilterError("b", reason="refusal", status_code=400)))
    assert (type(blocked), blocked.reason, blocked.status_code) == (
        ContentFilterError,
        "refusal",
        400,
    )


def test_all_providers_failed_pickles_with_its_attempts() -> None:
    error = failed_everywhere()
    copy = pickle.loads(pickle.dumps(error))
    assert str(copy) == str(error)
    assert copy.request_id == "req-1"
    assert [(a.provider, a.model, a.duration_ms) for a in copy.attempts] == [
        (a.provider, a.model, a.duration_ms) for a in error.attempts
    ]
    assert [type(e) for e in copy.errors] == [OverloadedError, RateLimitError]


def test_other_errors_pickle() -> None:
    circuit = pickle.loads(pickle.dumps(CircuitOpenError("claude")))
    assert (circuit.provider, str(circuit)) == ("claude", str(CircuitOpenError("claude")))
    invalid = pickle.loads(pickle.dumps(RequestValidationError("bad", [{"loc": ("x",)}])))
    assert (str(invalid), invalid.errors) == ("bad", [{"loc": ("x",)}])
    for error in (ConfigurationError("cfg"), StoreError("db"), MigrationError("001_x.sql")):
        copy = pickle.loads(pickle.dumps(error))
        assert (type(copy), str(copy)) == (type(error), str(error))


def test_budget_errors_pickle_with_their_fields() -> None:
    err = UnpricedModelError(
        "no price", model="m", budget_id="b", scope="user=a", limit=5.0, spent=1.0, resets_at=9
    )
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is UnpricedModelError
    assert (back.model, back.budget_id, back.scope, back.limit, back.resets_at) == (
        "m",
        "b",
        "user=a",
        5.0,
        9,
    )
    assert str(back) == "no price"
    assert BudgetExceededError.code == "BUDGET_EXCEEDED"
