"""LiteLLM's ``acompletion`` against the emulator (OpenAI and Anthropic routes): a forced
tool call comes back, and ``response_format`` gets JSON of the schema."""

from __future__ import annotations

import json
import os

import pytest

from automatosx.emulator import EmulatorServer

from .conftest import API_KEY, MODELS

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no fetch at import
litellm = pytest.importorskip("litellm")

# LiteLLM's own TypedDicts make pydantic warn (its code, not ours)
pytestmark = pytest.mark.filterwarnings("ignore:Item.*ReadOnly.* qualifier:UserWarning")

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather of a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
CITY = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "population": {"type": "integer"}},
    "required": ["name", "population"],
    "additionalProperties": False,
}


def route(name: str, emulator: EmulatorServer) -> dict[str, str]:
    if name == "openai":
        return {"model": f"openai/{MODELS['openai']}", "api_base": emulator.openai_base_url}
    return {"model": f"anthropic/{MODELS['claude']}", "api_base": emulator.anthropic_base_url}


@pytest.mark.parametrize("name", ["openai", "claude"])
async def test_acompletion_gets_the_forced_tool_call(emulator: EmulatorServer, name: str) -> None:
    response = await litellm.acompletion(
        **route(name, emulator),
        api_key=API_KEY,
        messages=[{"role": "user", "content": "What is the weather in Paris?"}],
        tools=[WEATHER],
        tool_choice="required",
        max_tokens=200,
    )
    calls = response.choices[0].message.tool_calls
    assert len(calls) == 1
    assert calls[0].function.name == "get_weather"
    assert isinstance(json.loads(calls[0].function.arguments)["city"], str)


async def test_acompletion_response_format_gets_json_of_the_schema(
    emulator: EmulatorServer,
) -> None:
    response = await litellm.acompletion(
        **route("openai", emulator),
        api_key=API_KEY,
        messages=[{"role": "user", "content": "Name a big city."}],
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "City", "schema": CITY, "strict": True},
        },
    )
    city = json.loads(response.choices[0].message.content)
    assert isinstance(city["name"], str)
    assert isinstance(city["population"], int)
