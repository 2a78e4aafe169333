"""A server that echoes the API key in its error: no adapter lets the key through, whether
the call is execute, stream (refused up front or failed mid-stream) or a health check.

conftest's API_KEY has no shape errors.redact knows, so only the adapter redacting with its
own key hides it (the emulator tests' key asserts cannot fail: the emulator never echoes keys).

The chained exceptions too: every error is formatted with ``traceback.format_exception``
(cause and context included), through the real SDKs and through a Router.
"""

from __future__ import annotations

import json
import traceback
from collections.abc import Callable
from typing import Any

import httpx2
import pytest

from automatosx import Router
from automatosx.errors import AllProvidersFailedError, ProviderError
from automatosx.providers import Provider
from automatosx.providers._errors import RedactedSdkError

from .conftest import API_KEY, NAMES, Wire, collect, make_config, make_request

Make = Callable[..., tuple[Provider, Wire]]
ECHO = f"bad key {API_KEY} given"

ERROR_BODIES: dict[str, dict[str, Any]] = {
    "claude": {"type": "error", "error": {"type": "authentication_error", "message": ECHO}},
    "openai": {"error": {"message": ECHO, "type": "invalid_request_error"}},
    "gemini": {"error": {"code": 401, "message": ECHO, "status": "UNAUTHENTICATED"}},
}
# The same error after HTTP 200, as each provider's stream sends it.
ERROR_EVENTS = {
    "claude": "event: error\ndata: {}\n\n".format(json.dumps(ERROR_BODIES["claude"])),
    "openai": "data: {}\n\n".format(json.dumps(ERROR_BODIES["openai"])),
    "gemini": "data: {}\r\n\r\n".format(json.dumps(ERROR_BODIES["gemini"])),
}


def assert_no_key(text: str) -> None:
    assert API_KEY not in text
    assert "[REDACTED]" in text


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("mode", ["execute", "stream"])
async def test_a_key_echoed_in_an_error_status_is_redacted(
    wire_provider: Make, name: str, mode: str
) -> None:
    provider, _ = wire_provider(name, lambda request: httpx2.Response(401, json=ERROR_BODIES[name]))
    call = (
        provider.execute(make_request()) if mode == "execute" else collect(provider, make_request())
    )
    with pytest.raises(ProviderError) as caught:
        await call
    assert_no_key(str(caught.value))
    assert API_KEY not in repr(caught.value)


@pytest.mark.parametrize("name", NAMES)
async def test_a_key_echoed_in_an_error_event_after_200_is_redacted(
    wire_provider: Make, name: str
) -> None:
    headers = {"content-type": "text/event-stream"}
    provider, _ = wire_provider(
        name,
        lambda request: httpx2.Response(200, content=ERROR_EVENTS[name].encode(), headers=headers),
    )
    with pytest.raises(ProviderError) as caught:
        await collect(provider, make_request())
    assert_no_key(str(caught.value))
    assert API_KEY not in repr(caught.value)


@pytest.mark.parametrize("name", NAMES)
async def test_a_key_echoed_to_the_health_check_is_redacted(wire_provider: Make, name: str) -> None:
    provider, wire = wire_provider(
        name, lambda request: httpx2.Response(401, json=ERROR_BODIES[name])
    )
    health = await provider.check_health()
    assert wire.requests[-1].method == "GET"  # the ping, not a generation
    assert health.status == "down"
    assert health.error is not None
    assert_no_key(health.error)


# -- chained exceptions: a formatted traceback carries no key -------------------------------

# The key in the body and in a header of each error response; the SDK exception keeps both
# (its message quotes the body, its ``response`` holds the headers, its ``request`` the key).
ECHO_HEADERS = {"x-echoed-key": API_KEY, "x-api-key-echo": f"Bearer {API_KEY}"}


def echo_error(name: str, status: int = 401) -> Callable[[httpx2.Request], httpx2.Response]:
    return lambda request: httpx2.Response(status, json=ERROR_BODIES[name], headers=ECHO_HEADERS)


def formatted(error: BaseException) -> str:
    return "".join(traceback.format_exception(error))


def assert_traceback_has_no_key(error: BaseException) -> None:
    text = formatted(error)
    assert API_KEY not in text
    # The SDK's failure is still there, as a redacted stand-in.
    assert "RedactedSdkError" in text
    assert "[REDACTED]" in text


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("mode", ["execute", "stream"])
async def test_the_traceback_of_a_mapped_sdk_error_never_shows_the_key(
    wire_provider: Make, name: str, mode: str
) -> None:
    provider, _ = wire_provider(name, echo_error(name))
    call = (
        provider.execute(make_request()) if mode == "execute" else collect(provider, make_request())
    )
    with pytest.raises(ProviderError) as caught:
        await call
    assert_traceback_has_no_key(caught.value)
    # Neither the cause nor the context leads back to the SDK exception.
    assert isinstance(caught.value.__cause__, RedactedSdkError)
    assert caught.value.__suppress_context__
    assert caught.value.__context__ is None


@pytest.mark.parametrize("name", NAMES)
async def test_the_stand_in_names_the_sdk_exception_and_keeps_its_frames(
    wire_provider: Make, name: str
) -> None:
    provider, _ = wire_provider(name, echo_error(name))
    with pytest.raises(ProviderError) as caught:
        await provider.execute(make_request())
    cause = caught.value.__cause__
    assert isinstance(cause, RedactedSdkError)
    sdk = {"claude": "anthropic.", "openai": "openai.", "gemini": "google.genai."}[name]
    assert cause.type_name.startswith(sdk)
    assert cause.__traceback__ is not None  # where the SDK raised, for whoever debugs it
    assert API_KEY not in str(cause)


@pytest.mark.parametrize("name", NAMES)
async def test_a_malformed_reply_echoing_the_key_is_chained_without_it(
    wire_provider: Make, name: str
) -> None:
    # A count that is the key: int() quotes the value in its ValueError.
    usage = {
        "claude": {"usage": {"input_tokens": API_KEY, "output_tokens": 1}, "content": []},
        "openai": {"choices": [], "usage": {"prompt_tokens": API_KEY}},
        "gemini": {"candidates": [], "usageMetadata": {"promptTokenCount": API_KEY}},
    }[name]
    provider, _ = wire_provider(name, lambda request: httpx2.Response(200, json=usage))
    with pytest.raises(ProviderError) as caught:
        await provider.execute(make_request())
    assert API_KEY not in formatted(caught.value)


@pytest.mark.parametrize("name", NAMES)
async def test_a_transport_failure_is_chained_without_the_key(
    wire_provider: Make, name: str
) -> None:
    def refuse(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ConnectError(f"refused while sending key={API_KEY}", request=request)

    provider, _ = wire_provider(name, refuse)
    with pytest.raises(ProviderError) as caught:
        await collect(provider, make_request())
    assert API_KEY not in formatted(caught.value)
    assert "ConnectError" in formatted(caught.value)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("mode", ["execute", "stream"])
async def test_all_providers_failed_from_a_router_never_shows_the_key(name: str, mode: str) -> None:
    wire = Wire(echo_error(name))
    options = {"primaryProvider": name, "enableFallback": False}
    try:
        async with Router(
            options, [make_config(name)], store=None, http_client=wire.client
        ) as router:
            request = {"messages": [{"role": "user", "content": "hi"}]}

            async def drain() -> None:
                async for _ in router.stream(request):
                    pass

            with pytest.raises(AllProvidersFailedError) as caught:
                await (router.execute(request) if mode == "execute" else drain())
    finally:
        await wire.client.aclose()
    assert wire.requests  # the provider was called and answered with the echo
    text = formatted(caught.value)
    assert API_KEY not in text
    for error in caught.value.errors:
        assert API_KEY not in formatted(error)
        assert API_KEY not in repr(error)
