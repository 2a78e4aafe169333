"""Refusals, as each service sends them, through the real SDKs against the emulator.

A prompt too long for the model (400) is not retried — the same model would refuse again —
and falls back, the ContextLengthError recorded on the attempt. A content-filter refusal is
the provider's answer: ContentFilterError reaches the caller at once by default, and falls
back only with ``fallbackOnContentFilter=true``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from automatosx import ContentFilterError, ProviderResponse, Router
from automatosx.emulator import RefusalKind, Rule
from automatosx.errors import AllProvidersFailedError

if TYPE_CHECKING:
    from tests.e2e.conftest import Harness

NAMES = ("claude", "gemini", "openai")
# Refusals with no text: "prompt_blocked" is OpenAI's 400 content_policy_violation, Gemini's
# promptFeedback block and Anthropic's empty refusal; Gemini's non-streamed "content_filter" is
# a candidate stopped for SAFETY without content.
BLOCKED = [
    *(
        pytest.param(name, "prompt_blocked", streamed, id=f"blocked-{name}-{kind}")
        for name in NAMES
        for streamed, kind in ((False, "execute"), (True, "stream"))
    ),
    pytest.param("gemini", "content_filter", False, id="safety-stop-gemini-execute"),
]
# A reply that stops for safety after some text: OpenAI finish_reason "content_filter",
# Anthropic stop_reason "refusal", a Gemini stream whose last candidate says SAFETY.
STOPPED = [
    pytest.param(name, streamed, id=f"{name}-{kind}")
    for name in NAMES
    for streamed, kind in ((False, "execute"), (True, "stream"))
    if (name, streamed) != ("gemini", False)
]


def fallback_for(primary: str) -> str:
    return "openai" if primary == "gemini" else "gemini"


async def ask(router: Router, req: dict[str, Any], streamed: bool) -> ProviderResponse:
    """The request's reply through ``execute`` or through a stream (its text checked)."""
    if not streamed:
        return await router.execute(req)
    stream = router.stream(req)
    async with stream:
        text = await stream.text()
    assert stream.response is not None
    assert stream.response.content == text
    return stream.response


@pytest.mark.parametrize("primary", NAMES)
@pytest.mark.parametrize("streamed", [False, True], ids=["execute", "stream"])
async def test_context_length_exceeded_is_not_retried_and_falls_back(
    e2e: Harness, primary: str, streamed: bool
) -> None:
    fallback = fallback_for(primary)
    e2e.scenario.add(Rule(provider=primary, refusal="context_length"))
    req = e2e.request("A very long prompt")

    async with e2e.router(primary, [fallback], providers={primary: {"max_retries": 3}}) as router:
        reply = await ask(router, req, streamed)

    assert reply.provider == fallback
    assert (e2e.count(primary), e2e.count(fallback)) == (1, 1)
    row = await e2e.stored(req["requestId"])
    assert row.request.state == "completed"
    assert [(a.provider, a.outcome, a.error_code, a.status_code) for a in row.attempts] == [
        (primary, "failure", "CONTEXT_LENGTH_EXCEEDED", 400),
        (fallback, "success", None, None),
    ]


@pytest.mark.parametrize(("primary", "refusal", "streamed"), BLOCKED)
async def test_a_content_filter_refusal_raises_by_default(
    e2e: Harness, primary: str, refusal: RefusalKind, streamed: bool
) -> None:
    fallback = fallback_for(primary)
    e2e.scenario.add(Rule(provider=primary, refusal=refusal))
    req = e2e.request("Something the filter dislikes")

    async with e2e.router(primary, [fallback], providers={primary: {"max_retries": 3}}) as router:
        with pytest.raises(ContentFilterError) as caught:
            await ask(router, req, streamed)

    assert not isinstance(caught.value, AllProvidersFailedError)
    assert caught.value.provider == primary
    assert caught.value.code == "CONTENT_FILTERED"
    assert (e2e.count(primary), e2e.count(fallback)) == (1, 0)
    row = await e2e.stored(req["requestId"])
    assert (row.request.state, row.request.error_code) == ("failed", "CONTENT_FILTERED")
    assert row.response is None
    assert [(a.provider, a.outcome, a.error_code) for a in row.attempts] == [
        (primary, "failure", "CONTENT_FILTERED")
    ]


@pytest.mark.parametrize(("primary", "refusal", "streamed"), BLOCKED)
async def test_a_content_filter_refusal_falls_back_when_the_option_says_so(
    e2e: Harness, primary: str, refusal: RefusalKind, streamed: bool
) -> None:
    fallback = fallback_for(primary)
    e2e.scenario.add(Rule(provider=primary, refusal=refusal))
    req = e2e.request("Something the filter dislikes")

    async with e2e.router(primary, [fallback], fallbackOnContentFilter=True) as router:
        reply = await ask(router, req, streamed)

    assert reply.provider == fallback
    assert (e2e.count(primary), e2e.count(fallback)) == (1, 1)
    row = await e2e.stored(req["requestId"])
    assert row.request.state == "completed"
    assert [(a.provider, a.outcome, a.error_code) for a in row.attempts] == [
        (primary, "failure", "CONTENT_FILTERED"),
        (fallback, "success", None),
    ]


@pytest.mark.parametrize(("primary", "streamed"), STOPPED)
async def test_a_reply_stopped_for_safety_after_some_text_is_the_answer_not_a_failure(
    e2e: Harness, primary: str, streamed: bool
) -> None:
    fallback = fallback_for(primary)
    e2e.scenario.add(Rule(provider=primary, refusal="content_filter"))
    req = e2e.request("Something the filter dislikes")

    async with e2e.router(primary, [fallback], fallbackOnContentFilter=True) as router:
        reply = await ask(router, req, streamed)

    assert reply.provider == primary
    assert reply.finish_reason == "content_filter"  # the caller can tell
    assert (e2e.count(primary), e2e.count(fallback)) == (1, 0)
    row = await e2e.stored(req["requestId"])
    assert row.response is not None
    assert row.response.finish_reason == "content_filter"
