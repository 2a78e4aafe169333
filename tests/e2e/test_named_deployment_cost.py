"""A deployment whose ``id`` is not its kind's name is priced by its kind (issue 20's defect):
``response.cost`` on ``id: "east"`` is genai-prices' price of the model under the ``openai``
kind — execute, a model fallback on the same deployment, a stream, a restarted stream —
through the real SDK against the emulator."""

from __future__ import annotations

from typing import Any

import pytest
from tests.e2e.conftest import API_KEY, BASE_OPTIONS, Harness

from automatosx import Router
from automatosx.emulator import Rule
from automatosx.pricing import PriceBook
from automatosx.schemas import ProviderResponse

MINI = "gpt-4o-mini"
GPT = "gpt-4o"


def east(e2e: Harness, **fields: Any) -> dict[str, Any]:
    return {
        "name": "openai",
        "id": "east",
        "apiKey": API_KEY,
        "baseUrl": e2e.base_url("openai"),
        "timeout": 5_000,
        "maxRetries": 0,
        "rateLimits": {"requestsPerMinute": 1_000_000},
        "models": [MINI, GPT],
        "defaultModel": MINI,
        **fields,
    }


def expected(response: ProviderResponse) -> float:
    cost = PriceBook().cost("openai", response.model, response.tokens)
    assert cost is not None
    assert cost > 0
    return cost


async def test_execute_on_a_named_deployment_has_its_kinds_price(e2e: Harness) -> None:
    async with Router({**BASE_OPTIONS, "primaryProvider": "east"}, [east(e2e)]) as router:
        response = await router.execute(e2e.request())
    assert response.provider == "east"
    assert response.cost == pytest.approx(expected(response))


async def test_a_model_fallback_on_a_named_deployment_is_priced(e2e: Harness) -> None:
    e2e.scenario.add(Rule(provider="openai", request=1, status=500))
    opts = {**BASE_OPTIONS, "primaryProvider": "east", "fallbackProviders": [f"east/{GPT}"]}
    async with Router(opts, [east(e2e)]) as router:
        response = await router.execute(e2e.request())
    assert (response.provider, response.model) == ("east", GPT)
    assert response.cost == pytest.approx(expected(response))


async def test_a_stream_on_a_named_deployment_is_priced(e2e: Harness) -> None:
    async with Router({**BASE_OPTIONS, "primaryProvider": "east"}, [east(e2e)]) as router:
        stream = router.stream(e2e.request("Stream me something long enough"))
        async for _ in stream:
            pass
    assert stream.response is not None
    assert stream.response.cost == pytest.approx(expected(stream.response))


async def test_a_restarted_stream_on_a_named_deployment_is_priced(e2e: Harness) -> None:
    e2e.scenario.add(Rule(provider="openai", request=1, cut_after=2))
    async with Router(
        {**BASE_OPTIONS, "primaryProvider": "east"}, [east(e2e, maxRetries=1)]
    ) as router:
        stream = router.stream(e2e.request("Stream me something long enough"))
        chunks = [chunk async for chunk in stream]
    assert any(c.restart for c in chunks)
    assert e2e.count("openai") == 2
    assert stream.response is not None
    assert stream.response.cost == pytest.approx(expected(stream.response))
