"""The shared classifier in providers/_errors.py: status and error type -> exception class."""

from __future__ import annotations

import email.utils
import time

import pytest

from automatosx.errors import (
    AuthenticationError,
    InvalidRequestError,
    ModelNotFoundError,
    OverloadedError,
    ProviderError,
    ProviderTimeoutError,
    RateLimitError,
    ServerError,
)
from automatosx.providers._errors import (
    class_for_status,
    provider_error,
    retry_after_from_headers,
    seconds_from_duration,
)


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, InvalidRequestError),
        (401, AuthenticationError),
        (403, AuthenticationError),
        (404, ModelNotFoundError),
        (408, ProviderTimeoutError),
        (405, ProviderError),  # an unexpected 4xx falls back, like 401/403/404
        (409, ProviderError),
        (413, InvalidRequestError),
        (415, ProviderError),
        (422, InvalidRequestError),
        (429, RateLimitError),
        (500, ServerError),
        (501, ServerError),
        (502, ServerError),
        (503, ServerError),
        (504, ServerError),
        (529, OverloadedError),
    ],
)
def test_status_classifier(status: int, cls: type[ProviderError]) -> None:
    assert class_for_status(status) is cls


def test_overloaded_body_wins_over_a_500_status() -> None:
    error = provider_error(
        "Overloaded", provider="claude", api_key=None, status=500, error_type="overloaded_error"
    )
    assert type(error) is OverloadedError
    assert error.status_code == 500


def test_status_wins_over_a_contradicting_body_type() -> None:
    error = provider_error(
        "x", provider="openai", api_key=None, status=503, error_type="invalid_request_error"
    )
    assert type(error) is ServerError


def test_without_a_status_the_type_decides_and_unknown_types_are_server_errors() -> None:
    limited = provider_error("x", provider="gemini", api_key=None, error_type="RESOURCE_EXHAUSTED")
    assert type(limited) is RateLimitError
    assert limited.status_code is None
    unknown = provider_error("x", provider="gemini", api_key=None, error_type="WHATEVER")
    assert type(unknown) is ServerError


def test_the_api_key_is_redacted_from_the_message() -> None:
    key = "my-very-secret-value-42"
    error = provider_error(f"bad key {key}", provider="claude", api_key=key, status=401)
    assert key not in str(error)
    assert key not in repr(error)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
        ({"retry-after": "7"}, 7.0),
        ({"retry-after": "1.5"}, 1.5),
        ({}, None),
        ({"retry-after": "soon"}, None),
    ],
)
def test_retry_after_headers(headers: dict[str, str], expected: float | None) -> None:
    assert retry_after_from_headers(headers) == expected


def test_retry_after_http_date() -> None:
    date = email.utils.formatdate(time.time() + 60, usegmt=True)
    seconds = retry_after_from_headers({"retry-after": date})
    assert seconds is not None
    assert 55 <= seconds <= 61


@pytest.mark.parametrize(
    ("value", "expected"), [("37s", 37.0), ("1.5s", 1.5), ("6m0s", 360.0), ("", None), (None, None)]
)
def test_durations(value: str | None, expected: float | None) -> None:
    assert seconds_from_duration(value) == expected
