"""OpenAI's Responses API through the real SDK: text, instructions, function calls,
structured text, usage, and the streamed event sequence."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import openai
import pytest
from pydantic import BaseModel

from automatosx.emulator import Rule, Scenario

from .conftest import Emulated

TOOLS: Any = [
    {
        "type": "function",
        "name": "get_capital",
        "parameters": {
            "type": "object",
            "properties": {"country": {"type": "string"}},
            "required": ["country"],
            "additionalProperties": False,
        },
        "strict": True,
    }
]


async def test_string_input_gets_a_completed_text_response_with_usage(emu: Emulated) -> None:
    response = await emu.gpt.responses.create(
        model="gpt-4o", input="What is the capital of France?", instructions="Be brief."
    )
    assert response.status == "completed"
    assert response.instructions == "Be brief."
    assert response.output_text.startswith("Emulated reply from gpt-4o to: What is the capital")
    assert response.usage is not None
    assert response.usage.output_tokens == len(response.output_text.split())
    assert response.usage.total_tokens == response.usage.input_tokens + response.usage.output_tokens


async def test_item_list_input_and_max_output_tokens_make_it_incomplete(
    in_process: Emulated,
) -> None:
    response = await in_process.gpt.responses.create(
        model="gpt-4o",
        input=[{"role": "user", "content": [{"type": "input_text", "text": "Tell me a story"}]}],
        max_output_tokens=16,
    )
    assert response.status == "incomplete"
    assert response.incomplete_details
    assert response.incomplete_details.reason == "max_output_tokens"
    assert len(response.output_text.split()) == 16


async def test_required_tool_choice_returns_a_function_call_item(in_process: Emulated) -> None:
    response = await in_process.gpt.responses.create(
        model="gpt-4o", input="Hi", tools=TOOLS, tool_choice="required"
    )
    (item,) = response.output
    assert item.type == "function_call"
    assert item.name == "get_capital"
    jsonschema.validate(json.loads(item.arguments), TOOLS[0]["parameters"])


async def test_function_call_output_is_quoted_in_the_answer(in_process: Emulated) -> None:
    response = await in_process.gpt.responses.create(
        model="gpt-4o",
        tools=TOOLS,
        input=[
            {"role": "user", "content": "capital of France? use get_capital"},
            {
                "type": "function_call",
                "call_id": "call_1",
                "name": "get_capital",
                "arguments": '{"country":"France"}',
            },
            {"type": "function_call_output", "call_id": "call_1", "output": "Paris"},
        ],
    )
    assert "Paris" in response.output_text


class Answer(BaseModel):
    city: str
    score: int


async def test_text_format_json_schema_parses_into_the_model(in_process: Emulated) -> None:
    response = await in_process.gpt.responses.parse(
        model="gpt-4o", input="Give me a city", text_format=Answer
    )
    assert isinstance(response.output_parsed, Answer)


async def test_reasoning_effort_reports_reasoning_tokens(in_process: Emulated) -> None:
    response = await in_process.gpt.responses.create(
        model="o3-mini", input="Think", reasoning={"effort": "low"}
    )
    assert response.usage is not None
    assert response.usage.output_tokens_details.reasoning_tokens == 64
    assert response.output[0].type == "reasoning"


async def test_stream_emits_the_real_event_sequence_with_sequence_numbers(
    loopback: Emulated,
) -> None:
    stream = await loopback.gpt.responses.create(
        model="gpt-4o", input="What is the capital of France?", stream=True
    )
    events = [event async for event in stream]
    types = [e.type for e in events]
    assert types[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert types[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    completed = events[-1]
    assert completed.type == "response.completed"
    assert deltas == completed.response.output_text
    assert completed.response.usage is not None


async def test_streamed_function_call_arguments_concatenate(in_process: Emulated) -> None:
    async with in_process.gpt.responses.stream(
        model="gpt-4o", input="use get_capital", tools=TOOLS
    ) as stream:
        deltas = [
            event.delta
            async for event in stream
            if event.type == "response.function_call_arguments.delta"
        ]
        final = await stream.get_final_response()
    (item,) = final.output
    assert item.type == "function_call"
    assert "".join(deltas) == item.arguments
    jsonschema.validate(json.loads(item.arguments), TOOLS[0]["parameters"])


async def test_scripted_openai_fault_applies_to_the_responses_api(in_process: Emulated) -> None:
    in_process.scenario = Scenario([Rule(provider="openai", first=1, status=429)])
    with pytest.raises(openai.RateLimitError):
        await in_process.gpt.responses.create(model="gpt-4o", input="Hi")
    response = await in_process.gpt.responses.create(model="gpt-4o", input="Hi")
    assert response.status == "completed"
