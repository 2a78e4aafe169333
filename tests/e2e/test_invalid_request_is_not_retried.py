"""A 400 is the request's fault: InvalidRequestError is raised at once, nothing is retried,
no fallback is tried, and the request is recorded as failed with INVALID_REQUEST."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from automatosx import Router
from automatosx.emulator import Rule
from automatosx.errors import InvalidRequestError

if TYPE_CHECKING:
    from tests.e2e.conftest import Harness


async def send(router: Router, req: dict[str, Any], mode: str) -> None:
    if mode == "execute":
        await router.execute(req)
        return
    async with router.stream(req) as stream:
        async for _ in stream:
            pytest.fail("a rejected stream yielded a chunk")


@pytest.mark.parametrize("primary", ["claude", "gemini", "openai"])
@pytest.mark.parametrize("mode", ["execute", "stream"])
async def test_400_raises_invalid_request_without_fallback(
    e2e: Harness, primary: str, mode: str
) -> None:
    e2e.scenario.add(Rule(provider=primary, status=400))
    others = [n for n in ("claude", "gemini", "openai") if n != primary]
    req = e2e.request()

    async with e2e.router(primary, others, providers={primary: {"max_retries": 3}}) as router:
        with pytest.raises(InvalidRequestError) as caught:
            await send(router, req, mode)

    assert caught.value.provider == primary
    assert caught.value.status_code == 400
    assert e2e.scenario.counts() == {primary: 1, **dict.fromkeys(others, 0)}
    row = await e2e.stored(req["requestId"])
    assert row.request.state == "failed"
    assert row.request.error_code == "INVALID_REQUEST"
    assert row.request.stream is (mode == "stream")
    assert row.response is None
    assert [(a.provider, a.outcome, a.error_code, a.status_code) for a in row.attempts] == [
        (primary, "failure", "INVALID_REQUEST", 400)
    ]
