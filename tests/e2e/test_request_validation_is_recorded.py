"""A request that fails validation raises RequestValidationError naming the field, and is
still recorded: a failed VALIDATION_ERROR row, with no attempt at any provider."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from automatosx import Router
from automatosx.errors import RequestValidationError

if TYPE_CHECKING:
    from tests.e2e.conftest import Harness


async def send(router: Router, req: dict[str, Any], mode: str) -> None:
    if mode == "execute":
        await router.execute(req)
        return
    async with router.stream(req) as stream:
        async for _ in stream:
            pytest.fail("an invalid request streamed")


@pytest.mark.parametrize("mode", ["execute", "stream"])
async def test_temperature_out_of_range_is_rejected_and_recorded(e2e: Harness, mode: str) -> None:
    req = e2e.request("Too hot", temperature=3, stream=mode == "stream")

    async with e2e.router("claude", ["gemini"]) as router:
        with pytest.raises(RequestValidationError) as caught:
            await send(router, req, mode)

    err = caught.value
    assert "temperature" in str(err)
    assert [e["loc"] for e in err.errors] == [("temperature",)]
    assert e2e.scenario.counts() == {"claude": 0, "gemini": 0, "openai": 0}
    row = await e2e.stored(req["requestId"])
    assert row.request.state == "failed"
    assert row.request.error_code == "VALIDATION_ERROR"
    assert row.request.error is not None
    assert "temperature" in row.request.error
    assert row.request.history == ["idle", "validating", "failed"]
    assert row.request.provider == "claude"
    assert row.request.model == e2e.models["claude"]
    assert row.request.stream is (mode == "stream")
    assert row.attempts == []
    assert row.response is None


async def test_a_request_without_messages_is_rejected_and_recorded(e2e: Harness) -> None:
    req = e2e.request()
    req["messages"] = []

    async with e2e.router() as router:
        with pytest.raises(RequestValidationError, match="messages"):
            await router.execute(req)

    row = await e2e.stored(req["requestId"])
    assert (row.request.state, row.request.error_code) == ("failed", "VALIDATION_ERROR")
