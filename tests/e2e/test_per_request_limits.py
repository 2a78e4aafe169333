"""A request's own ``maxRetries`` and ``timeoutMs`` take the place of its deployment's
``maxRetries`` and ``timeout`` for that request only: through the real SDKs over real HTTP to
the emulator, recorded attempt by attempt."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import pytest

from automatosx.emulator import Rule
from automatosx.errors import AllProvidersFailedError

if TYPE_CHECKING:
    from tests.e2e.conftest import Harness


@pytest.mark.parametrize("mode", ["execute", "stream"])
async def test_max_retries_of_the_request_retries_a_5xx_then_ok_deployment(
    e2e: Harness, mode: str
) -> None:
    # The deployment says no retry; the request asks for two: 503, 503, then the reply.
    e2e.scenario.add(Rule(provider="claude", first=2, status=503))
    req = e2e.request(maxRetries=2)
    async with e2e.router("claude", ["gemini"], providers={"claude": {"max_retries": 0}}) as r:
        if mode == "execute":
            reply = await r.execute(req)
        else:
            stream = r.stream(req)
            _ = [c async for c in stream]
            reply = stream.response
        plain = e2e.request()  # the next request keeps the deployment's own maxRetries=0
        e2e.scenario.add(Rule(provider="claude", request=4, status=503))
        other = await r.execute(plain)
    assert reply is not None
    assert reply.provider == "claude"
    assert other.provider == "gemini"
    row = await e2e.stored(req["requestId"])
    assert [(a.provider, a.outcome, a.status_code) for a in row.attempts] == [
        ("claude", "failure", 503),
        ("claude", "failure", 503),
        ("claude", "success", None),
    ]
    assert row.request.retry_count == 2
    plain_row = await e2e.stored(plain["requestId"])
    assert [(a.provider, a.outcome) for a in plain_row.attempts] == [
        ("claude", "failure"),
        ("gemini", "success"),
    ]


async def test_max_retries_zero_of_the_request_falls_back_at_once(e2e: Harness) -> None:
    e2e.scenario.add(Rule(provider="claude", first=1, status=503))
    req = e2e.request(maxRetries=0)
    async with e2e.router("claude", ["gemini"], providers={"claude": {"max_retries": 3}}) as r:
        reply = await r.execute(req)
    assert reply.provider == "gemini"
    assert e2e.count("claude") == 1


async def test_max_retries_of_the_request_ends_in_all_providers_failed(e2e: Harness) -> None:
    e2e.scenario.add(Rule(provider="claude", status=503))
    req = e2e.request(maxRetries=1)
    async with e2e.router("claude", [], providers={"claude": {"max_retries": 5}}) as r:
        with pytest.raises(AllProvidersFailedError):
            await r.execute(req)
    row = await e2e.stored(req["requestId"])
    assert len(row.attempts) == 2
    assert row.request.state == "failed"


@pytest.mark.parametrize("mode", ["execute", "stream"])
async def test_timeout_ms_expires_an_attempt_the_deployment_timeout_allows(
    e2e: Harness, mode: str
) -> None:
    # Claude answers after 3 s: within its deployment's 5 s timeout, not the request's 300 ms.
    e2e.scenario.add(Rule(provider="claude", latency=3))
    req = e2e.request(timeoutMs=300)
    async with e2e.router("claude", ["gemini"], providers={"claude": {"timeout": 5_000}}) as r:
        started = time.monotonic()
        if mode == "execute":
            reply = await r.execute(req)
        else:
            stream = r.stream(req)
            _ = [c async for c in stream]
            reply = stream.response
        elapsed = time.monotonic() - started
        slow_ok = await r.execute(e2e.request())  # without timeoutMs the slow reply is fine
    assert reply is not None
    assert reply.provider == "gemini"
    assert elapsed < 2.5, "waited for the slow reply instead of the request's 300 ms"
    assert slow_ok.provider == "claude"
    row = await e2e.stored(req["requestId"])
    assert [(a.provider, a.outcome, a.error_code) for a in row.attempts] == [
        ("claude", "failure", "TIMEOUT"),
        ("gemini", "success", None),
    ]
    assert row.attempts[0].duration >= 250
    assert "0.3s" in (row.attempts[0].error or "")


@pytest.mark.parametrize("name", ["claude", "openai", "gemini"])
@pytest.mark.parametrize("mode", ["execute", "stream"])
async def test_timeout_ms_longer_than_the_deployment_timeout_lets_a_slow_reply_in(
    e2e: Harness, name: str, mode: str
) -> None:
    # The deployment's 300 ms (its SDK client's too) would cut a 0.8 s reply; the request
    # allows 3 s.
    e2e.scenario.add(Rule(provider=name, latency=0.8))
    req = e2e.request(timeoutMs=3_000)
    other = "claude" if name != "claude" else "openai"
    async with e2e.router(name, [other], providers={name: {"timeout": 300}}) as r:
        if mode == "execute":
            reply = await r.execute(req)
        else:
            stream = r.stream(req)
            _ = [c async for c in stream]
            reply = stream.response
    assert reply is not None
    assert reply.provider == name
