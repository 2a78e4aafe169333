"""Poison never loses other requests: input the store could not write (a lone surrogate,
metadata that is not JSON, a cycle, deep nesting) is refused at validation and recorded as
such, while the good requests sent beside it are all recorded; and a request id is never
used twice, whatever the caller does with its request object."""

from __future__ import annotations

import asyncio
import random
from typing import TYPE_CHECKING, Any

import pytest
from pydantic import ValidationError

from automatosx.errors import RequestValidationError
from automatosx.schemas import ProviderRequest

from .conftest import TERMINAL

if TYPE_CHECKING:
    from .conftest import Bench


def _cycle() -> dict[str, Any]:
    loop: dict[str, Any] = {"a": 1}
    loop["self"] = loop
    return loop


def _deep(levels: int) -> dict[str, Any]:
    node: dict[str, Any] = {"leaf": 1}
    for _ in range(levels):
        node = {"n": node}
    return node


POISON: dict[str, dict[str, Any]] = {
    "lone surrogate in content": {"messages": [{"role": "user", "content": "a\ud800b"}]},
    "lone surrogate in metadata": {
        "messages": [{"role": "user", "content": "hi"}],
        "metadata": {"k": "\udfff"},
    },
    "tuple key in metadata": {
        "messages": [{"role": "user", "content": "hi"}],
        "metadata": {("a", "b"): 1},
    },
    "cycle in metadata": {"messages": [{"role": "user", "content": "hi"}], "metadata": _cycle()},
    "metadata nested 10,000 deep": {
        "messages": [{"role": "user", "content": "hi"}],
        "metadata": _deep(10_000),
    },
}


async def test_poisoned_requests_are_refused_and_recorded_while_30_good_ones_all_complete(
    hx: Bench,
) -> None:
    good = [hx.request(f"good {i}") for i in range(30)]
    bad_ids = {}
    for name, body in POISON.items():
        rid = hx.request()["requestId"]
        body["requestId"] = rid
        bad_ids[rid] = name

    router = hx.router()
    await router.open()
    try:
        results = await asyncio.gather(
            *(router.execute(r) for r in good),
            *(router.execute(body) for body in POISON.values()),
            return_exceptions=True,
        )
    finally:
        await router.aclose()  # raises nothing

    answers, refusals = results[: len(good)], results[len(good) :]
    assert all(not isinstance(a, BaseException) for a in answers), answers
    for name, refusal in zip(POISON, refusals, strict=True):
        assert isinstance(refusal, RequestValidationError), (name, refusal)
    states = hx.states()
    for req in good:
        assert states[req["requestId"]] == ("completed", None)
    # Each refusal has its own terminal row (under its id when that id was valid).
    refused = [s for rid, s in states.items() if rid not in {g["requestId"] for g in good}]
    assert refused == [("failed", "VALIDATION_ERROR")] * len(POISON)
    assert all(state in TERMINAL for state, _ in states.values())
    assert router.store_errors == []


async def test_executing_the_same_validated_request_twice_is_refused_before_sending(
    hx: Bench,
) -> None:
    req = ProviderRequest.model_validate(hx.request())
    async with hx.router() as router:
        await router.execute(req)
        with pytest.raises(RequestValidationError, match=req.request_id) as caught:
            await router.execute(req)
    assert "already used" in str(caught.value)
    assert hx.scenario.count("claude") == 1  # the second was never sent
    # The refused call has a row of its own, under a generated id: the first row is intact.
    states = hx.states()
    assert states.pop(req.request_id) == ("completed", None)
    assert list(states.values()) == [("failed", "VALIDATION_ERROR")]


async def test_a_seeded_random_module_does_not_make_two_requests_share_an_id(hx: Bench) -> None:
    body = {"messages": [{"role": "user", "content": "hi"}]}
    async with hx.router() as router:
        random.seed(0)
        first = await router.execute(dict(body))
        random.seed(0)
        second = await router.execute(dict(body))
    assert first.request_id != second.request_id
    assert len(hx.states()) == 2


@pytest.mark.parametrize(
    ("field", "value"),
    [("temperature", 5.0), ("max_tokens", 2**64), ("model", ""), ("messages", [])],
)
def test_assigning_an_invalid_value_to_a_validated_request_is_refused(
    field: str, value: Any
) -> None:
    req = ProviderRequest.model_validate({"messages": [{"role": "user", "content": "hi"}]})
    with pytest.raises(ValidationError, match=field.split("_")[0]):
        setattr(req, field, value)
    assert req.temperature == 1.0
    assert req.max_tokens is None
    assert req.messages


def test_assigning_a_lone_surrogate_to_a_validated_message_is_refused() -> None:
    req = ProviderRequest.model_validate({"messages": [{"role": "user", "content": "hi"}]})
    with pytest.raises(ValidationError, match="content"):
        req.messages[0].content = "x\ud800"
    assert req.messages[0].content == "hi"


async def test_a_request_mutated_after_validation_is_never_sent_invalid(hx: Bench) -> None:
    req = ProviderRequest.model_validate(hx.request())
    with pytest.raises(ValidationError):
        req.temperature = 5.0
    async with hx.router() as router:
        response = await router.execute(req)  # the request as it was validated
    assert response.request_id == req.request_id
    assert hx.scenario.count("claude") == 1
