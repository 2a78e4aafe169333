"""Property tests: a normalized conversation mapped to each provider's native shape and read
back as if the provider had sent it gives the same tool calls and the same tool results, and
each adapter's streamed argument fragments reassemble to the arguments."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from automatosx.providers import _rich_anthropic, _rich_gemini, _rich_openai
from automatosx.providers._rich import anthropic_call_id, openai_call_id
from automatosx.schemas import Message, ProviderRequest, ToolCall

NAMES = st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True)
IDS = st.text(st.characters(codec="utf-8"), min_size=1, max_size=80)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)
ARGUMENTS = st.dictionaries(st.text(max_size=10), JSON, max_size=4)
CALLS = st.lists(
    st.builds(ToolCall, id=IDS, name=NAMES, arguments=ARGUMENTS),
    min_size=1,
    max_size=4,
    unique_by=lambda c: c.id,
)


def conversation(calls: list[ToolCall]) -> ProviderRequest:
    messages = [
        Message(role="user", content="go"),
        Message(role="assistant", content="", tool_calls=calls),
        *(
            Message(role="tool", tool_call_id=c.id, content=f"result {i}")
            for i, c in enumerate(calls)
        ),
    ]
    return ProviderRequest(messages=messages)


def same(got: list[ToolCall] | None, want: list[ToolCall], id_map: Any) -> None:
    assert got is not None
    assert [(c.name, c.arguments) for c in got] == [(c.name, c.arguments) for c in want]
    if id_map is not None:
        assert [c.id for c in got] == [id_map(c.id) for c in want]


@settings(max_examples=60, deadline=None)
@given(CALLS)
def test_openai_round_trip_keeps_tool_calls_and_answers(calls: list[ToolCall]) -> None:
    native = [_rich_openai._message(m) for m in conversation(calls).messages]
    assistant = json.loads(json.dumps(native[1]))  # through the wire
    same(_rich_openai.tool_calls_of(assistant), calls, openai_call_id)
    answered = [m["tool_call_id"] for m in native[2:]]
    assert answered == [c["id"] for c in assistant["tool_calls"]]


@settings(max_examples=60, deadline=None)
@given(CALLS)
def test_anthropic_round_trip_keeps_tool_calls_and_answers(calls: list[ToolCall]) -> None:
    _, native = _rich_anthropic._messages(conversation(calls))
    assistant = json.loads(json.dumps(native[1]["content"]))
    same(_rich_anthropic.tool_calls_of(assistant), calls, anthropic_call_id)
    results = [b for b in native[2]["content"] if b["type"] == "tool_result"]
    assert [b["tool_use_id"] for b in results] == [b["id"] for b in assistant]


@settings(max_examples=60, deadline=None)
@given(CALLS)
def test_gemini_round_trip_keeps_tool_calls_and_answers(calls: list[ToolCall]) -> None:
    _, contents = _rich_gemini._contents(conversation(calls))
    parts = [
        {"functionCall": p["function_call"]} for p in contents[1]["parts"] if "function_call" in p
    ]
    candidate = json.loads(json.dumps({"content": {"role": "model", "parts": parts}}))
    same(_rich_gemini.tool_calls_of(candidate), calls, None)  # Gemini has no ids: names match
    answers = [p["function_response"]["name"] for p in contents[2]["parts"]]
    assert answers == [c.name for c in calls]


@settings(max_examples=60, deadline=None)
@given(CALLS, st.integers(1, 7))
def test_openai_stream_fragments_reassemble_the_arguments(calls: list[ToolCall], size: int) -> None:
    assembler = _rich_openai.ToolCallAssembler()
    for index, call in enumerate(calls):
        text = json.dumps(call.arguments)
        assembler.add(
            [{"index": index, "id": call.id, "function": {"name": call.name, "arguments": ""}}]
        )
        for start in range(0, len(text), size):
            assembler.add([{"index": index, "function": {"arguments": text[start : start + size]}}])
    got = assembler.finish()
    assert [(c.id, c.name, c.arguments) for c in got] == [
        (c.id, c.name, c.arguments) for c in calls
    ]
