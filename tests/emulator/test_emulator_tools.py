"""Tool calls through the real SDKs: forced and named calls carry schema-valid arguments,
JSON and streamed; a tool result in the last message gets a text answer quoting it."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
from google.genai import types as genai_types

from .conftest import Emulated, user

WEATHER = {
    "type": "object",
    "properties": {
        "city": {"type": "string"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        "days": {"type": "integer", "minimum": 1, "maximum": 7},
    },
    "required": ["city", "unit"],
    "additionalProperties": False,
}
OPENAI_TOOLS: Any = [
    {"type": "function", "function": {"name": "get_weather", "parameters": WEATHER}},
    {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}},
]
CLAUDE_TOOLS: Any = [
    {"name": "get_weather", "description": "Weather", "input_schema": WEATHER},
    {"name": "get_time", "input_schema": {"type": "object", "properties": {}}},
]


async def test_claude_forced_tool_returns_tool_use_with_valid_input(in_process: Emulated) -> None:
    message = await in_process.claude.messages.create(
        model="claude-sonnet-4-6",
        max_tokens=200,
        messages=user("Hello there"),
        tools=CLAUDE_TOOLS,
        tool_choice={"type": "tool", "name": "get_weather"},
    )
    assert message.stop_reason == "tool_use"
    (block,) = message.content
    assert block.type == "tool_use"
    assert block.name == "get_weather"
    jsonschema.validate(block.input, WEATHER)


async def test_claude_auto_calls_the_tool_the_message_names(in_process: Emulated) -> None:
    message = await in_process.claude.messages.create(
        model="claude-sonnet-4-6",
        max_tokens=200,
        messages=user("Please use get_time now"),
        tools=CLAUDE_TOOLS,
    )
    assert [b.type for b in message.content] == ["tool_use"]
    assert message.content[0].name == "get_time"  # type: ignore[union-attr]


async def test_claude_auto_without_naming_a_tool_answers_in_text(in_process: Emulated) -> None:
    message = await in_process.claude.messages.create(
        model="claude-sonnet-4-6", max_tokens=200, messages=user("Hi"), tools=CLAUDE_TOOLS
    )
    assert message.stop_reason == "end_turn"
    assert message.content[0].type == "text"


async def test_claude_tool_choice_none_never_calls(in_process: Emulated) -> None:
    message = await in_process.claude.messages.create(
        model="claude-sonnet-4-6",
        max_tokens=200,
        messages=user("use get_weather"),
        tools=CLAUDE_TOOLS,
        tool_choice={"type": "none"},
    )
    assert message.stop_reason == "end_turn"


async def test_claude_streamed_tool_use_input_fragments_concatenate(loopback: Emulated) -> None:
    async with loopback.claude.messages.stream(
        model="claude-sonnet-4-6",
        max_tokens=200,
        messages=user("Hi"),
        tools=CLAUDE_TOOLS,
        tool_choice={"type": "any"},
    ) as stream:
        fragments = [
            event.delta.partial_json  # type: ignore[union-attr]
            for event in [e async for e in stream]
            if event.type == "content_block_delta"
        ]
        final = await stream.get_final_message()
    assert final.stop_reason == "tool_use"
    block = final.content[0]
    assert block.type == "tool_use"
    assert json.loads("".join(fragments)) == block.input
    jsonschema.validate(block.input, WEATHER)


async def test_claude_tool_result_is_quoted_in_the_answer(in_process: Emulated) -> None:
    message = await in_process.claude.messages.create(
        model="claude-sonnet-4-6",
        max_tokens=200,
        tools=CLAUDE_TOOLS,
        messages=[
            {"role": "user", "content": "weather in Paris? use get_weather"},
            {
                "role": "assistant",
                "content": [
                    {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": "21 C and sunny"}
                ],
            },
        ],
    )
    assert message.stop_reason == "end_turn"
    assert "21 C and sunny" in message.content[0].text  # type: ignore[union-attr]


async def test_openai_required_tool_choice_returns_tool_calls(in_process: Emulated) -> None:
    completion = await in_process.gpt.chat.completions.create(
        model="gpt-4o", messages=user("Hi"), tools=OPENAI_TOOLS, tool_choice="required"
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    (call,) = choice.message.tool_calls or []
    assert call.function.name == "get_weather"  # type: ignore[union-attr]
    jsonschema.validate(json.loads(call.function.arguments), WEATHER)  # type: ignore[union-attr]


async def test_openai_named_function_choice_calls_that_function(in_process: Emulated) -> None:
    completion = await in_process.gpt.chat.completions.create(
        model="gpt-4o",
        messages=user("Hi"),
        tools=OPENAI_TOOLS,
        tool_choice={"type": "function", "function": {"name": "get_time"}},
    )
    (call,) = completion.choices[0].message.tool_calls or []
    assert call.function.name == "get_time"  # type: ignore[union-attr]


async def test_openai_streamed_tool_call_arguments_concatenate(loopback: Emulated) -> None:
    stream = await loopback.gpt.chat.completions.create(
        model="gpt-4o",
        messages=user("what does get_weather say?"),
        tools=OPENAI_TOOLS,
        stream=True,
        stream_options={"include_usage": True},
    )
    names, arguments, finish = [], "", None
    async for chunk in stream:
        for choice in chunk.choices:
            for delta in choice.delta.tool_calls or []:
                assert delta.index == 0
                if delta.function and delta.function.name:
                    names.append(delta.function.name)
                arguments += (delta.function.arguments or "") if delta.function else ""
            finish = choice.finish_reason or finish
    assert names == ["get_weather"]
    assert finish == "tool_calls"
    jsonschema.validate(json.loads(arguments), WEATHER)


async def test_openai_tool_message_is_quoted_in_the_answer(in_process: Emulated) -> None:
    completion = await in_process.gpt.chat.completions.create(
        model="gpt-4o",
        tools=OPENAI_TOOLS,
        messages=[
            {"role": "user", "content": "weather? use get_weather"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": "{}"},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "rain, 12 degrees"},
        ],
    )
    assert completion.choices[0].finish_reason == "stop"
    assert "rain, 12 degrees" in (completion.choices[0].message.content or "")


def _gemini_config(mode: str, **extra: Any) -> genai_types.GenerateContentConfig:
    return genai_types.GenerateContentConfig(
        tools=[
            genai_types.Tool(
                function_declarations=[
                    genai_types.FunctionDeclaration(
                        name="get_weather", parameters_json_schema=WEATHER
                    ),
                    genai_types.FunctionDeclaration(
                        name="get_time",
                        parameters=genai_types.Schema(
                            type=genai_types.Type.OBJECT,
                            properties={"zone": genai_types.Schema(type=genai_types.Type.STRING)},
                            required=["zone"],
                        ),
                    ),
                ]
            )
        ],
        tool_config=genai_types.ToolConfig(
            function_calling_config=genai_types.FunctionCallingConfig(mode=mode, **extra)  # type: ignore[arg-type]
        ),
    )


async def test_gemini_any_mode_returns_function_call_with_stop(in_process: Emulated) -> None:
    response = await in_process.gemini.models.generate_content(
        model="gemini-2.5-flash", contents="Hi", config=_gemini_config("ANY")
    )
    assert response.candidates
    assert response.candidates[0].finish_reason == "STOP"
    (call,) = response.function_calls or []
    assert call.name == "get_weather"
    jsonschema.validate(call.args, WEATHER)


async def test_gemini_allowed_function_names_pick_the_call(in_process: Emulated) -> None:
    config = _gemini_config("ANY", allowed_function_names=["get_time"])
    response = await in_process.gemini.models.generate_content(
        model="gemini-2.5-flash", contents="Hi", config=config
    )
    (call,) = response.function_calls or []
    assert call.name == "get_time"
    assert call.args == {"zone": "zone"}


async def test_gemini_none_mode_answers_in_text(in_process: Emulated) -> None:
    response = await in_process.gemini.models.generate_content(
        model="gemini-2.5-flash", contents="use get_weather", config=_gemini_config("NONE")
    )
    assert not response.function_calls
    assert response.text
    assert response.text.startswith("Emulated reply")


async def test_gemini_streamed_function_call_arrives_whole(loopback: Emulated) -> None:
    calls = []
    async for chunk in await loopback.gemini.models.generate_content_stream(
        model="gemini-2.5-flash", contents="call get_weather", config=_gemini_config("AUTO")
    ):
        calls += chunk.function_calls or []
    (call,) = calls
    assert call.name == "get_weather"
    jsonschema.validate(call.args, WEATHER)


async def test_gemini_function_response_is_quoted_in_the_answer(in_process: Emulated) -> None:
    contents = [
        genai_types.Content(role="user", parts=[genai_types.Part(text="use get_weather")]),
        genai_types.Content(
            role="model",
            parts=[
                genai_types.Part(
                    function_call=genai_types.FunctionCall(name="get_weather", args={})
                )
            ],
        ),
        genai_types.Content(
            role="user",
            parts=[
                genai_types.Part(
                    function_response=genai_types.FunctionResponse(
                        name="get_weather", response={"forecast": "snow"}
                    )
                )
            ],
        ),
    ]
    response = await in_process.gemini.models.generate_content(
        model="gemini-2.5-flash", contents=contents, config=_gemini_config("AUTO")
    )
    assert not response.function_calls
    assert "snow" in (response.text or "")
