"""Silence and late first tokens fall back at once, through the real SDKs and the emulator.

A provider that accepts the request and never answers is not retried: retrying a silent route
only multiplies the wait, so the fallback answers after ONE attempt timeout, whatever the
primary's ``max_retries``. A stream whose first token comes later than
``firstTokenTimeoutMs`` falls back the same way, before the caller has seen anything.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import pytest

from automatosx.emulator import Rule

if TYPE_CHECKING:
    from tests.e2e.conftest import Harness

NAMES = ("claude", "gemini", "openai")
LIMIT_MS = 500  # the attempt's limit: small, with margin for a loaded 2-core machine


def fallback_for(primary: str) -> str:
    return "openai" if primary == "gemini" else "gemini"


@pytest.mark.parametrize("primary", NAMES)
@pytest.mark.parametrize("streamed", [False, True], ids=["execute", "stream"])
async def test_a_silent_provider_is_not_retried_and_the_fallback_answers_after_one_timeout(
    e2e: Harness, primary: str, streamed: bool
) -> None:
    fallback = fallback_for(primary)
    e2e.scenario.add(Rule(provider=primary, silence=True))
    req = e2e.request("Anyone there?")

    async with e2e.router(
        primary,
        [fallback],
        providers={primary: {"timeout": LIMIT_MS, "max_retries": 3}},
        firstTokenTimeoutMs=None,  # the provider's own timeout is the limit here
    ) as router:
        started = time.monotonic()
        if streamed:
            stream = router.stream(req)
            async with stream:
                chunks = [c async for c in stream]
            assert not any(c.restart for c in chunks)
            reply = stream.response
            assert reply is not None
            assert "".join(c.chunk for c in chunks) == reply.content
        else:
            reply = await router.execute(req)
        elapsed = time.monotonic() - started

    assert reply.provider == fallback
    assert elapsed >= LIMIT_MS / 1000  # it did wait for the silent one (no timing upper bound:
    # one attempt, not four with max_retries=3, is what the recorded attempts below prove)
    assert e2e.count(primary) <= 1  # never retried (on a stalled machine it may expire unsent)
    assert e2e.count(fallback) == 1
    row = await e2e.stored(req["requestId"])
    assert row.request.state == "completed"
    assert [(a.provider, a.outcome, a.error_code) for a in row.attempts] == [
        (primary, "failure", "TIMEOUT"),
        (fallback, "success", None),
    ]
    assert row.attempts[0].duration >= LIMIT_MS - 50  # it waited the whole limit once


@pytest.mark.parametrize("primary", NAMES)
async def test_a_first_token_later_than_the_limit_falls_back_before_anything_is_streamed(
    e2e: Harness, primary: str
) -> None:
    fallback = fallback_for(primary)
    # Headers (and a stream's opening events) come at once; the first text 10 s later.
    e2e.scenario.add(Rule(provider=primary, late_first_token_ms=10_000))
    req = e2e.request("Stream please")

    async with e2e.router(
        primary,
        [fallback],
        providers={primary: {"max_retries": 2}},
        firstTokenTimeoutMs=LIMIT_MS,
    ) as router:
        stream = router.stream(req)
        async with stream:
            chunks = [c async for c in stream]

    assert not any(c.restart for c in chunks)
    assert [c.index for c in chunks] == list(range(len(chunks)))
    assert stream.response is not None
    assert stream.response.provider == fallback
    text = "".join(c.chunk for c in chunks)
    assert text == stream.response.content
    assert text.startswith(f"Emulated reply from {e2e.models[fallback]} to: Stream please")
    assert (e2e.count(primary), e2e.count(fallback)) == (1, 1)
    row = await e2e.stored(req["requestId"])
    assert row.request.state == "completed"
    assert [(a.provider, a.outcome, a.error_code) for a in row.attempts] == [
        (primary, "failure", "TIMEOUT"),
        (fallback, "success", None),
    ]
    assert row.chunks is not None
    assert "".join(t for _, t, _ in row.chunks) == text  # nothing of the primary's
