"""A primary that answers 500 is not retried (maxRetries 0) and the fallback serves; the
database holds both attempts, the completed request and its failed -> requesting history."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from automatosx.emulator import Rule

if TYPE_CHECKING:
    from tests.e2e.conftest import Harness


async def test_execute_falls_back_to_gemini_when_claude_answers_500(e2e: Harness) -> None:
    e2e.scenario.add(Rule(provider="claude", status=500))
    req = e2e.request("Which provider answers?")

    async with e2e.router("claude", ["gemini", "openai"]) as router:
        reply = await router.execute(req)

    assert reply.provider == "gemini"
    assert reply.model == e2e.models["gemini"]
    assert reply.request_id == req["requestId"]
    assert reply.content.startswith("Emulated reply from gemini-2.5-flash to: Which provider")
    assert (e2e.count("claude"), e2e.count("gemini"), e2e.count("openai")) == (1, 1, 0)

    row = await e2e.stored(req["requestId"])
    assert row.request.state == "completed"
    assert row.request.error_code is None
    assert row.request.retry_count == 0
    assert e2e.has_run(row.request.history, "requesting", "failed", "requesting", "completed")
    first, second = row.attempts
    assert (first.attempt, first.provider, first.model) == (1, "claude", e2e.models["claude"])
    assert (first.outcome, first.error_code, first.status_code) == ("failure", "SERVER_ERROR", 500)
    assert (second.attempt, second.provider, second.model) == (2, "gemini", e2e.models["gemini"])
    assert (second.outcome, second.error_code, second.status_code) == ("success", None, None)
    assert row.response is not None
    assert row.response.provider == "gemini"
    assert row.response.content == reply.content
    assert row.response.tokens == reply.tokens
    assert row.response.cost == pytest.approx(reply.cost)


async def test_every_configured_provider_failing_raises_all_failed_and_records_each(
    e2e: Harness,
) -> None:
    from automatosx.errors import AllProvidersFailedError, ServerError

    e2e.scenario.add(Rule(status=500))
    req = e2e.request()

    async with e2e.router("claude", ["gemini", "openai"]) as router:
        with pytest.raises(AllProvidersFailedError) as caught:
            await router.execute(req)

    err = caught.value
    assert err.request_id == req["requestId"]
    assert [a.provider for a in err.attempts] == ["claude", "gemini", "openai"]
    assert all(isinstance(a.error, ServerError) for a in err.attempts)
    row = await e2e.stored(req["requestId"])
    assert row.request.state == "failed"
    assert row.request.error_code == "SERVER_ERROR"
    assert row.response is None
    assert [(a.provider, a.outcome, a.status_code) for a in row.attempts] == [
        ("claude", "failure", 500),
        ("gemini", "failure", 500),
        ("openai", "failure", 500),
    ]
