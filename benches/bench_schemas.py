"""Validation of requests, the dicts a caller hands to ``Router.execute``: the typical one
(which ``ProviderRequest.model_validate`` checks on its own path, ``schemas/_fast.py``), the
same through pydantic-core (the baseline of that path, measured in the same run), and richer
ones (image parts, tools, a response format), which take pydantic-core."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel
from pytest_benchmark.fixture import BenchmarkFixture

from _budget import info
from _stub import PROMPT
from automatosx.schemas import ProviderRequest

WITH_ID = {**PROMPT, "requestId": "6f1c1f5e-0a6b-4d5e-9a7b-2c3d4e5f6a7b"}
IMAGE = {
    **PROMPT,
    "messages": [
        PROMPT["messages"][0],
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is in this picture?"},
                {"type": "image", "url": "https://example.com/cat.png"},
            ],
        },
    ],
}
TOOLS = {
    **PROMPT,
    "tools": [
        {
            "name": "get_weather",
            "description": "The weather in a city.",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "units": {"enum": ["c", "f"]}},
                "required": ["city"],
            },
        }
    ],
    "toolChoice": "auto",
}
FORMAT = {
    **PROMPT,
    "responseFormat": {
        "type": "json_schema",
        "name": "City",
        "schema": {"type": "object", "properties": {"name": {"type": "string"}}},
    },
}
CASES: dict[str, dict[str, Any]] = {
    "generated": PROMPT,
    "given": WITH_ID,
    "image": IMAGE,
    "tools": TOOLS,
    "responseFormat": FORMAT,
}
_MEDIANS: dict[str, float] = {}


def _full(doc: dict[str, Any]) -> ProviderRequest:
    """pydantic-core's validation of ``doc``, as ``model_validate`` does any other input."""
    return BaseModel.model_validate.__func__(ProviderRequest, doc)  # type: ignore[attr-defined, no-any-return]


@pytest.mark.benchmark(group="schemas")
@pytest.mark.parametrize("case", list(CASES))
def test_validate_request(benchmark: BenchmarkFixture, case: str) -> None:
    """dict -> ProviderRequest. ``generated``/``given``: two messages, maxTokens, temperature,
    without a requestId (the model generates one) or with one (checked against the UUID
    pattern); the others add an image part, a tool, or a response format."""
    benchmark(ProviderRequest.model_validate, CASES[case])
    assert benchmark.stats is not None
    median = benchmark.stats.stats.median * 1e6
    _MEDIANS[case] = median
    info(f"schemas: validate request ({case})", median, "us")


@pytest.mark.benchmark(group="schemas")
def test_validate_typical_request_through_pydantic_core(benchmark: BenchmarkFixture) -> None:
    """The typical request through pydantic-core, in the same run: the fast path's baseline."""
    benchmark(_full, PROMPT)
    assert benchmark.stats is not None
    median = benchmark.stats.stats.median * 1e6
    info("schemas: validate request (generated), pydantic-core path", median, "us")
    if "generated" in _MEDIANS:
        ratio = _MEDIANS["generated"] / median
        info("schemas: typical request, model_validate / pydantic-core path", ratio, "x")
