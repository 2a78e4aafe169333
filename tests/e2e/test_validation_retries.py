"""``maxValidationRetries``: a reply that does not validate as the ``response_model`` is
re-asked (the same request, the assistant's reply, and a user message naming the validation
error), each try recorded as an attempt of the same request (one row; a failed parse is an
attempt with code ``OUTPUT_VALIDATION``); after the last try ``OutputValidationError`` as
without retries. Through each real SDK over real HTTP to the emulator, whose ``reply_text``
fault makes a reply wrong JSON."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import BaseModel
from tests.e2e.conftest import NAMES, Harness

from automatosx import SyncRouter
from automatosx.emulator import Rule
from automatosx.errors import OutputValidationError, RequestValidationError

WRONG = json.dumps({"name": "Paris"})  # no population


class City(BaseModel):
    name: str
    population: int


def options(**extra: Any) -> dict[str, Any]:
    return {"providers": {name: {"timeout": 60_000} for name in NAMES}, **extra}


@pytest.mark.parametrize("name", NAMES)
async def test_a_reply_that_does_not_validate_is_re_asked_and_recorded_as_an_attempt(
    e2e: Harness, name: str
) -> None:
    e2e.scenario.add(Rule(provider=name, request=1, reply_text=WRONG))
    req = e2e.request("A big city?")
    async with e2e.router(name, [], **options()) as router:
        reply = await router.execute(req, response_model=City, max_validation_retries=1)
    assert isinstance(reply.parsed, City)
    assert reply.parsed.population >= 0
    assert e2e.count(name) == 2
    row = await e2e.stored(req["requestId"])
    assert row.request.state == "completed"
    # The re-ask starts the request over at the same candidate; the history keeps it all.
    assert row.request.history == [
        *("idle", "validating", "requesting", "failed"),
        *("idle", "validating", "requesting", "completed"),
    ]
    assert [(a.attempt, a.provider, a.outcome, a.error_code) for a in row.attempts] == [
        (1, name, "failure", "OUTPUT_VALIDATION"),
        (2, name, "success", None),
    ]
    assert "population" in (row.attempts[0].error or "")
    assert row.response is not None
    assert City.model_validate_json(row.response.content) == reply.parsed


async def test_the_re_ask_carries_the_reply_and_the_validation_error(e2e: Harness) -> None:
    seen: list[list[dict[str, Any]]] = []
    e2e.scenario.add(Rule(provider="openai", request=1, reply_text=WRONG))
    async with e2e.router("openai", [], **options()) as router:
        provider = router.providers["openai"]
        execute = provider.execute

        async def spy(request: Any) -> Any:
            seen.append([m.model_dump(by_alias=True) for m in request.messages])
            return await execute(request)

        provider.execute = spy  # type: ignore[method-assign]
        await router.execute(
            e2e.request("A big city?"), response_model=City, max_validation_retries=1
        )
    first, second = seen
    assert second[: len(first)] == first
    assistant, user = second[len(first) :]
    assert assistant["role"] == "assistant"
    assert assistant["content"] == WRONG
    assert user["role"] == "user"
    assert "population" in user["content"]
    assert "Field required" in user["content"]


async def test_the_router_option_applies_to_every_call(e2e: Harness) -> None:
    e2e.scenario.add(Rule(provider="claude", requests=(1, 2), reply_text=WRONG))
    req = e2e.request("A big city?")
    async with e2e.router("claude", [], maxValidationRetries=2, **options()) as router:
        reply = await router.execute(req, response_model=City)
    assert isinstance(reply.parsed, City)
    row = await e2e.stored(req["requestId"])
    assert [(a.outcome, a.error_code) for a in row.attempts] == [
        ("failure", "OUTPUT_VALIDATION"),
        ("failure", "OUTPUT_VALIDATION"),
        ("success", None),
    ]


async def test_after_the_last_try_output_validation_error_and_a_completed_row(
    e2e: Harness,
) -> None:
    e2e.scenario.add(Rule(provider="gemini", reply_text=WRONG))
    req = e2e.request("A big city?")
    async with e2e.router("gemini", [], maxValidationRetries=5, **options()) as router:
        with pytest.raises(OutputValidationError) as caught:
            await router.execute(req, response_model=City, max_validation_retries=1)
    assert caught.value.raw == WRONG
    assert e2e.count("gemini") == 2
    row = await e2e.stored(req["requestId"])
    assert row.request.state == "completed"
    assert [(a.outcome, a.error_code) for a in row.attempts] == [
        ("failure", "OUTPUT_VALIDATION"),
        ("success", None),
    ]
    assert row.response is not None
    assert row.response.content == WRONG


async def test_without_retries_nothing_is_re_asked(e2e: Harness) -> None:
    e2e.scenario.add(Rule(provider="claude", reply_text=WRONG))
    req = e2e.request("A big city?")
    async with e2e.router("claude", [], **options()) as router:
        with pytest.raises(OutputValidationError):
            await router.execute(req, response_model=City)
    assert e2e.count("claude") == 1
    row = await e2e.stored(req["requestId"])
    assert [a.outcome for a in row.attempts] == ["success"]


async def test_a_provider_failure_during_a_re_ask_still_falls_back(e2e: Harness) -> None:
    e2e.scenario.add(Rule(provider="claude", request=1, reply_text=WRONG))
    e2e.scenario.add(Rule(provider="claude", request=2, status=503))
    req = e2e.request("A big city?")
    async with e2e.router("claude", ["openai"], **options()) as router:
        reply = await router.execute(req, response_model=City, max_validation_retries=1)
    assert reply.provider == "openai"
    assert isinstance(reply.parsed, City)
    row = await e2e.stored(req["requestId"])
    assert [(a.provider, a.outcome, a.error_code) for a in row.attempts] == [
        ("claude", "failure", "OUTPUT_VALIDATION"),
        ("claude", "failure", "SERVER_ERROR"),
        ("openai", "success", None),
    ]


@pytest.mark.parametrize("value", [-1, 11, 1.5, "2", True])
async def test_a_bad_max_validation_retries_is_refused_naming_it(e2e: Harness, value: Any) -> None:
    async with e2e.router("claude", [], **options()) as router:
        with pytest.raises(RequestValidationError, match="max_validation_retries"):
            await router.execute(e2e.request(), response_model=City, max_validation_retries=value)
    assert e2e.count("claude") == 0


def test_sync_router_takes_max_validation_retries(e2e: Harness) -> None:
    e2e.scenario.add(Rule(provider="openai", request=1, reply_text=WRONG))
    configs = [e2e.config("openai", timeout=60_000)]
    with SyncRouter({"primaryProvider": "openai"}, configs) as router:
        reply = router.execute(e2e.request(), response_model=City, max_validation_retries=1)
    assert isinstance(reply.parsed, City)
    assert e2e.count("openai") == 2
