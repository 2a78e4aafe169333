"""Every recording in shared/conformance, replayed by the emulator, parses through its SDK
into what the recording says: the same text, tool calls, usage, or error class."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest
from google.genai import errors as genai_errors

from automatosx.emulator import (
    CONFORMANCE_ENV,
    Recording,
    Scenario,
    conformance_dir,
    conformance_files,
    create_replay_app,
    load_recordings,
)

from .conftest import Emulated, user

FILES = conformance_files()
NO_RECORDINGS = (
    f"no conformance recordings: set {CONFORMANCE_ENV} or provide ../shared/conformance "
    "next to the repository"
)
ERRORS = {
    "claude": {400: anthropic.BadRequestError, 404: anthropic.NotFoundError},
    "openai": {400: openai.BadRequestError, 404: openai.NotFoundError, 429: openai.RateLimitError},
    "gemini": {400: genai_errors.ClientError, 404: genai_errors.ClientError},
}


def sse_events(body: bytes) -> list[tuple[str | None, Any]]:
    """(event name, decoded data) of each SSE event in a recorded body; [DONE] is skipped."""
    events = []
    for block in re.split(r"\r?\n\r?\n", body.decode()):
        name, data = None, []
        for line in block.splitlines():
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())
        if data and data != ["[DONE]"]:
            events.append((name, json.loads("\n".join(data))))
    return events


def recorded_json(recording: Recording) -> Any:
    return json.loads(recording.body)


# -- Anthropic -------------------------------------------------------------------------------


async def replay_claude(emu: Emulated, recording: Recording) -> None:
    kwargs: dict[str, Any] = {
        "model": "claude-sonnet-4-6",
        "max_tokens": 100,
        "messages": user("replay"),
    }
    if recording.status != 200:
        with pytest.raises(ERRORS["claude"][recording.status]) as caught:
            await emu.claude.messages.create(**kwargs)
        assert caught.value.body == recorded_json(recording)
        return
    if not recording.is_stream:
        message = await emu.claude.messages.create(**kwargs)
        expected = recorded_json(recording)
        assert message.model_dump(mode="json", exclude_unset=True)["content"] == expected["content"]
        assert message.stop_reason == expected["stop_reason"]
        assert message.usage.output_tokens == expected["usage"]["output_tokens"]
        return
    async with emu.claude.messages.stream(**kwargs) as stream:
        message = await stream.get_final_message()
    events = dict(reversed(sse_events(recording.body)))  # first event of each name
    deltas = [data["delta"] for name, data in sse_events(recording.body) if name.endswith("delta")]
    text = "".join(d.get("text", "") for d in deltas)
    assert "".join(b.text for b in message.content if b.type == "text") == text
    final = [d for name, d in sse_events(recording.body) if name == "message_delta"][-1]
    assert message.stop_reason == final["delta"]["stop_reason"]
    assert message.usage.output_tokens == final["usage"]["output_tokens"]
    assert message.id == events["message_start"]["message"]["id"]
    for block in message.content:
        if block.type == "tool_use":
            partial = "".join(d.get("partial_json", "") for d in deltas)
            assert block.input == json.loads(partial)


# -- OpenAI ----------------------------------------------------------------------------------


async def replay_openai(emu: Emulated, recording: Recording) -> None:
    endpoint = "responses" if recording.path.endswith("/responses") else "chat/completions"
    base = recording.path.removesuffix("/" + endpoint)
    client = emu.gpt if base == "/v1" else emu.openai_at(base)
    request = recording.request_body or {}
    model = request.get("model", "gpt-4o")
    stream = bool(request.get("stream"))
    if endpoint == "responses":
        call = client.responses.create(model=model, input="replay", stream=stream)
    else:
        call = client.chat.completions.create(model=model, messages=user("replay"), stream=stream)
    if recording.status != 200:
        with pytest.raises(ERRORS["openai"][recording.status]) as caught:
            await call
        assert caught.value.status_code == recording.status
        return
    result = await call
    if endpoint == "responses":
        await check_responses(result, recording)
    else:
        await check_chat(result, recording)


async def check_chat(result: Any, recording: Recording) -> None:
    if not recording.is_stream:
        expected = recorded_json(recording)
        assert result.choices[0].message.content == expected["choices"][0]["message"]["content"]
        assert result.usage.model_dump(exclude_none=True) == expected["usage"]
        return
    chunks = [chunk async for chunk in result]
    recorded = [data for _, data in sse_events(recording.body)]
    assert len(chunks) == len(recorded)
    for chunk, data in zip(chunks, recorded, strict=True):
        assert chunk.id == data["id"]
        if data["choices"]:
            got, want = chunk.choices[0].delta, data["choices"][0]["delta"]
            assert got.content == want.get("content")
            if want.get("tool_calls"):
                assert (
                    got.tool_calls[0].function.arguments
                    == (want["tool_calls"][0]["function"]["arguments"])
                )
        else:
            assert chunk.usage.total_tokens == data["usage"]["total_tokens"]


async def check_responses(result: Any, recording: Recording) -> None:
    if not recording.is_stream:
        expected = recorded_json(recording)
        texts = [c["text"] for o in expected["output"] for c in o.get("content") or []]
        assert result.output_text == "".join(texts)
        assert result.usage.total_tokens == expected["usage"]["total_tokens"]
        return
    events = [event async for event in result]
    recorded = sse_events(recording.body)
    assert [e.type for e in events] == [name for name, _ in recorded]
    completed = events[-1].response
    assert completed.usage.total_tokens == recorded[-1][1]["response"]["usage"]["total_tokens"]


# -- Gemini ----------------------------------------------------------------------------------


async def replay_gemini(emu: Emulated, recording: Recording) -> None:
    model, _, action = recording.path.rpartition("/")[2].partition(":")
    if recording.status != 200:
        with pytest.raises(ERRORS["gemini"][recording.status]) as caught:
            await emu.gemini.models.generate_content(model=model, contents="replay")
        assert caught.value.details == recorded_json(recording)
        return
    if action == "generateContent":
        response = await emu.gemini.models.generate_content(model=model, contents="replay")
        expected = recorded_json(recording)
        assert_same_parts([response], [expected])
        assert response.usage_metadata is not None
        assert (
            response.usage_metadata.total_token_count
            == (expected["usageMetadata"]["totalTokenCount"])
        )
        return
    stream = await emu.gemini.models.generate_content_stream(model=model, contents="replay")
    chunks = [chunk async for chunk in stream]
    recorded = [data for _, data in sse_events(recording.body)]
    assert_same_parts(chunks, recorded)
    assert chunks[-1].usage_metadata is not None
    assert (
        chunks[-1].usage_metadata.total_token_count
        == (recorded[-1]["usageMetadata"]["totalTokenCount"])
    )


def assert_same_parts(responses: list[Any], recorded: list[dict[str, Any]]) -> None:
    """Text and function calls of each response equal the recorded candidate parts."""
    assert len(responses) == len(recorded)
    for response, data in zip(responses, recorded, strict=True):
        parts = data["candidates"][0]["content"]["parts"]
        got = response.candidates[0].content.parts
        assert [p.text for p in got] == [p.get("text") for p in parts]
        assert [p.function_call.name if p.function_call else None for p in got] == [
            p["functionCall"]["name"] if "functionCall" in p else None for p in parts
        ]


# -- the tests -------------------------------------------------------------------------------


def provider_of(recording: Recording) -> str:
    if recording.path.endswith("/messages"):
        return "claude"
    if recording.path.startswith("/v1/models/"):
        return "gemini"
    return "openai"


REPLAYERS = {"claude": replay_claude, "openai": replay_openai, "gemini": replay_gemini}


@pytest.mark.parametrize("path", FILES or [None], ids=lambda p: p.name if p else "none")
async def test_recording_replays_through_its_sdk(emu: Emulated, path: Path | None) -> None:
    if path is None:
        pytest.skip(NO_RECORDINGS)
    recordings = load_recordings(path)
    emu.scenario = Scenario.replay(path)
    for recording in recordings:
        await REPLAYERS[provider_of(recording)](emu, recording)
    assert all(r.served for r in emu.scenario.recordings)


async def test_replay_runs_out_with_a_501(emu: Emulated) -> None:
    if not FILES:
        pytest.skip(NO_RECORDINGS)
    path = next(p for p in FILES if p.name.endswith(".sse.txt"))
    emu.scenario = Scenario.replay(path)
    await emu.claude.messages.create(model="claude-sonnet-4-6", max_tokens=9, messages=user("a"))
    with pytest.raises(anthropic.APIStatusError) as caught:
        await emu.claude.messages.create(
            model="claude-sonnet-4-6", max_tokens=9, messages=user("a")
        )
    assert caught.value.status_code == 501
    emu.scenario.reset()
    await emu.claude.messages.create(model="claude-sonnet-4-6", max_tokens=9, messages=user("a"))


def test_conformance_dir_honours_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(CONFORMANCE_ENV, str(tmp_path))
    assert conformance_dir() == tmp_path
    monkeypatch.setenv(CONFORMANCE_ENV, str(tmp_path / "missing"))
    assert conformance_dir() is None
    assert conformance_files() == []


async def test_create_replay_app_takes_one_path_or_several() -> None:
    if not FILES:
        pytest.skip(NO_RECORDINGS)
    one = create_replay_app(FILES[0])
    several = create_replay_app(FILES[:3])
    assert len(one.state.scenario.recordings) == len(load_recordings(FILES[0]))
    assert len(several.state.scenario.recordings) == sum(len(load_recordings(p)) for p in FILES[:3])
