"""Context-window and content-policy errors are told apart from other bad requests: through
each real SDK, from the bodies each provider sends, and in the shared classifier."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx2
import pytest

from automatosx.errors import (
    ContentFilterError,
    ContextLengthError,
    InvalidRequestError,
    ProviderError,
    ServerError,
)
from automatosx.providers import Provider
from automatosx.providers._errors import provider_error

from .conftest import Wire, collect, make_request

Make = Callable[..., tuple[Provider, Wire]]

CONTEXT_LENGTH_BODIES: dict[str, dict[str, Any]] = {
    "claude": {
        "type": "error",
        "error": {
            "type": "invalid_request_error",
            "message": "prompt is too long: 208310 tokens > 200000 maximum",
        },
    },
    "openai": {
        "error": {
            "message": "This model's maximum context length is 128000 tokens. However, your "
            "messages resulted in 130512 tokens. Please reduce the length of the messages.",
            "type": "invalid_request_error",
            "param": "messages",
            "code": "context_length_exceeded",
        }
    },
    "gemini": {
        "error": {
            "code": 400,
            "message": "The input token count (1200000) exceeds the maximum number of tokens "
            "allowed (1048576).",
            "status": "INVALID_ARGUMENT",
        }
    },
}


def answer(status: int, body: dict[str, Any]) -> Callable[[httpx2.Request], httpx2.Response]:
    return lambda request: httpx2.Response(status, json=body)


async def call(provider: Provider, mode: str) -> None:
    if mode == "execute":
        await provider.execute(make_request())
    else:
        await collect(provider, make_request())


@pytest.mark.parametrize("mode", ["execute", "stream"])
@pytest.mark.parametrize("name", ["claude", "openai", "gemini"])
async def test_a_prompt_over_the_context_window_is_a_context_length_error(
    wire_provider: Make, name: str, mode: str
) -> None:
    provider, _ = wire_provider(name, answer(400, CONTEXT_LENGTH_BODIES[name]))
    with pytest.raises(ContextLengthError) as caught:
        await call(provider, mode)
    error = caught.value
    assert (error.code, error.status_code, error.provider) == ("CONTEXT_LENGTH_EXCEEDED", 400, name)
    assert (error.retryable, error.fallback) == (False, True)


@pytest.mark.parametrize("name", ["claude", "openai", "gemini"])
async def test_other_bad_requests_stay_invalid_requests_that_do_not_fall_back(
    wire_provider: Make, name: str
) -> None:
    body = {
        "claude": {"type": "error", "error": {"type": "invalid_request_error", "message": "bad"}},
        "openai": {"error": {"message": "bad", "type": "invalid_request_error", "code": None}},
        "gemini": {"error": {"code": 400, "message": "bad", "status": "INVALID_ARGUMENT"}},
    }[name]
    provider, _ = wire_provider(name, answer(400, body))
    with pytest.raises(InvalidRequestError) as caught:
        await provider.execute(make_request())
    assert type(caught.value) is InvalidRequestError
    assert caught.value.fallback is False


@pytest.mark.parametrize("code", ["content_policy_violation", "content_filter"])
@pytest.mark.parametrize("mode", ["execute", "stream"])
async def test_an_openai_content_policy_code_is_a_content_filter_error(
    wire_provider: Make, code: str, mode: str
) -> None:
    body = {
        "error": {
            "message": "Your request was rejected as a result of our safety system.",
            "type": "invalid_request_error",
            "param": None,
            "code": code,
        }
    }
    provider, _ = wire_provider("openai", answer(400, body))
    with pytest.raises(ContentFilterError) as caught:
        await call(provider, mode)
    error = caught.value
    assert (error.reason, error.code, error.status_code) == (code, "CONTENT_FILTERED", 400)
    assert (error.retryable, error.fallback) == (False, False)


@pytest.mark.parametrize(
    "message",
    [
        "prompt is too long: 208310 tokens > 200000 maximum",
        "input length and `max_tokens` exceed context limit: 188240 + 21333 > 200000",
        "This model's maximum context length is 8192 tokens.",
        "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).",
    ],
)
def test_the_classifier_reads_each_providers_context_window_message(message: str) -> None:
    error = provider_error(message, provider="x", api_key=None, status=400)
    assert type(error) is ContextLengthError


def test_a_context_window_error_event_after_200_is_recognised_too() -> None:
    error = provider_error(
        "prompt is too long", provider="claude", api_key=None, error_type="invalid_request_error"
    )
    assert type(error) is ContextLengthError
    assert error.status_code is None


@pytest.mark.parametrize(
    ("status", "error_type", "cls"),
    [
        (400, "context_length_exceeded", ContextLengthError),
        (400, "content_policy_violation", ContentFilterError),
        (403, "content_filter", ContentFilterError),
        (500, "content_filter", ServerError),  # a 5xx stays a server error
        (400, "invalid_request_error", InvalidRequestError),
    ],
)
def test_a_specific_error_code_refines_a_4xx_status(
    status: int, error_type: str, cls: type[ProviderError]
) -> None:
    error = provider_error(
        "x", provider="openai", api_key=None, status=status, error_type=error_type
    )
    assert type(error) is cls


def test_a_too_long_message_on_a_server_error_is_not_a_context_length_error() -> None:
    error = provider_error("prompt is too long", provider="claude", api_key=None, status=503)
    assert type(error) is ServerError
