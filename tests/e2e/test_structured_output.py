"""Structured output beyond one pydantic model: any type a pydantic ``TypeAdapter`` takes —
``list[Item]``, a union, a dataclass, a ``TypedDict``, a recursive model — asked of each
provider through its real SDK over the emulator and parsed into ``ParsedResponse.parsed``; a
type that cannot be asked for is refused before sending, typed and recorded."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from enum import Enum
from typing import Any

import pytest
from pydantic import BaseModel, Field
from tests.e2e.conftest import NAMES, Harness
from typing_extensions import TypedDict

from automatosx import Router
from automatosx._output import ParsedResponse
from automatosx.errors import RequestValidationError


class Item(BaseModel):
    name: str
    quantity: int


class Refusal(BaseModel):
    reason: str


@dataclasses.dataclass
class Point:
    x: float
    y: float


class Person(TypedDict):
    name: str
    age: int


class Tree(BaseModel):
    label: str
    children: list[Tree] = Field(default_factory=list, max_length=3)


class WithInfinity(BaseModel):
    limit: float = math.inf


Huge = Enum("Huge", {f"v{i}": i for i in range(10_001)})  # type: ignore[misc]


class WithHugeEnum(BaseModel):
    value: Huge


class WithCallable(BaseModel):
    hook: Callable[[int], int]


def make_router(e2e: Harness, primary: str) -> Router:
    return e2e.router(primary, providers={primary: {"timeout": 60_000}})


@pytest.mark.parametrize("name", NAMES)
async def test_a_list_of_models_is_asked_for_and_parsed(e2e: Harness, name: str) -> None:
    async with make_router(e2e, name) as router:
        response = await router.execute(e2e.request("A shopping list?"), response_model=list[Item])
    assert isinstance(response, ParsedResponse)
    assert isinstance(response.parsed, list)
    assert all(isinstance(item, Item) for item in response.parsed)


@pytest.mark.parametrize(
    ("output_type", "check"),
    [
        (Point, lambda value: isinstance(value, Point)),
        (Person, lambda value: isinstance(value, dict) and set(value) == {"name", "age"}),
        (Item | Refusal, lambda value: isinstance(value, Item | Refusal)),
        (dict[str, int], lambda value: all(isinstance(v, int) for v in value.values())),
    ],
    ids=["dataclass", "typeddict", "union", "dict"],
)
async def test_any_type_adapter_type_is_parsed(
    e2e: Harness, output_type: Any, check: Callable[[Any], bool]
) -> None:
    async with make_router(e2e, "openai") as router:
        response = await router.execute(e2e.request("Answer."), response_model=output_type)
    assert check(response.parsed)


async def test_a_recursive_model_works_against_the_emulator(e2e: Harness) -> None:
    async with make_router(e2e, "openai") as router:
        response = await router.execute(e2e.request("A tree?"), response_model=Tree)
    assert isinstance(response.parsed, Tree)


@pytest.mark.parametrize(
    ("output_type", "reason"),
    [
        (WithInfinity, "cannot be sent"),
        (WithHugeEnum, "cannot be sent"),
        (WithCallable, "has no JSON schema"),
        (5, "has no JSON schema"),
    ],
    ids=["inf-default", "huge-enum", "callable-field", "not-a-type"],
)
async def test_an_unusable_response_model_is_refused_typed_and_recorded(
    e2e: Harness, output_type: Any, reason: str
) -> None:
    request = e2e.request("Hi")
    async with make_router(e2e, "openai") as router:
        with pytest.raises(RequestValidationError, match=f"response_model: .*{reason}"):
            await router.execute(request, response_model=output_type)
    assert e2e.count("openai") == 0
    stored = await e2e.stored(request["requestId"])
    assert stored.request.state == "failed"
    assert stored.request.error_code == "VALIDATION_ERROR"
    assert "response_model" in (stored.request.error or "")
