"""A server that echoes the API key in its error: no adapter lets the key through, whether
the call is execute, stream (refused up front or failed mid-stream) or a health check.

conftest's API_KEY has no shape errors.redact knows, so only the adapter redacting with its
own key hides it (the emulator tests' key asserts cannot fail: the emulator never echoes keys).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx2
import pytest

from automatosx.errors import ProviderError
from automatosx.providers import Provider

from .conftest import API_KEY, NAMES, Wire, collect, make_request

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
