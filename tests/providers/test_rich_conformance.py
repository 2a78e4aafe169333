"""The tool-use recordings in ../shared/conformance replayed through the real SDKs and our
adapters (httpx2.MockTransport serves each recorded response), with the tool calls checked:
each call's name and arguments, and its id where the provider sends one, in order, in JSON
and in streams.

The expected calls are read from the recorded bodies by the small reference parser here,
independent of the SDKs and of the adapters' own parsing.
"""

from __future__ import annotations

import json
from typing import Any

import httpx2
import pytest

from automatosx.providers import Provider, create_provider
from automatosx.providers.base import StreamEnd
from automatosx.schemas import ProviderRequest, ToolCall

from .conftest import make_config
from .test_conformance import ADAPTER_FILES, ADAPTER_OF, DIR, Interaction, _sse_data, load

pytestmark = pytest.mark.skipif(
    DIR is None,
    reason="no recordings: ../shared/conformance is absent (set AUTOMATOSX_CONFORMANCE_DIR)",
)

Call = tuple[str | None, str, dict[str, Any]]
"""(id or None when the provider sends none, name, arguments)."""


def _claude_calls(it: Interaction) -> list[Call]:
    if not it.sse:
        body = json.loads(it.body)
        return [
            (b["id"], b["name"], b["input"]) for b in body["content"] if b["type"] == "tool_use"
        ]
    calls: dict[int, list[Any]] = {}
    for event in _sse_data(it.body):
        if event["type"] == "content_block_start" and event["content_block"]["type"] == "tool_use":
            block = event["content_block"]
            calls[event["index"]] = [block["id"], block["name"], ""]
        elif (
            event["type"] == "content_block_delta" and event["delta"]["type"] == "input_json_delta"
        ):
            calls[event["index"]][2] += event["delta"]["partial_json"]
    return [(i, n, json.loads(a) if a else {}) for i, n, a in calls.values()]


def _openai_calls(it: Interaction) -> list[Call]:
    if not it.sse:
        message = json.loads(it.body)["choices"][0]["message"]
        return [
            (c["id"], c["function"]["name"], json.loads(c["function"]["arguments"] or "{}"))
            for c in message.get("tool_calls") or ()
        ]
    calls: dict[int, list[Any]] = {}
    for chunk in _sse_data(it.body):
        for choice in chunk["choices"]:
            for frag in choice["delta"].get("tool_calls") or ():
                call = calls.setdefault(frag["index"], [None, None, ""])
                call[0] = frag.get("id") or call[0]
                function = frag.get("function") or {}
                call[1] = function.get("name") or call[1]
                call[2] += function.get("arguments") or ""
    return [(i, n, json.loads(a) if a else {}) for i, n, a in calls.values()]


def _gemini_calls(it: Interaction) -> list[Call]:
    chunks = _sse_data(it.body) if it.sse else [json.loads(it.body)]
    calls: list[Call] = []
    for chunk in chunks:
        for part in chunk["candidates"][0]["content"].get("parts", []):
            if "functionCall" in part:
                fc = part["functionCall"]
                calls.append((fc.get("id"), fc["name"], fc.get("args") or {}))
    return calls


CALLS_OF = {"claude": _claude_calls, "openai": _openai_calls, "gemini": _gemini_calls}


def _recorded_calls(relative: str) -> list[list[Call]]:
    name = ADAPTER_OF[relative.split("/")[0]]
    return [CALLS_OF[name](it) if it.status < 400 else [] for it in load(relative).interactions]


TOOL_FILES = [f for f in ADAPTER_FILES if any(_recorded_calls(f))] if DIR else []


def _request(name: str, it: Interaction, names: list[str]) -> ProviderRequest:
    """A request declaring the recorded call's tools (what makes the adapter read calls), for
    the recorded model (the route the cassette checks)."""
    model = None
    if name == "gemini":
        model = it.url.path.rsplit("/", 1)[-1].split(":")[0]
    elif name == "openai":
        model = it.request_body.get("model")
    tools = [{"name": n, "parameters": {"type": "object"}} for n in dict.fromkeys(names)]
    return ProviderRequest.model_validate(
        {
            "messages": [{"role": "user", "content": "replayed"}],
            "model": model,
            "stream": it.sse,
            "maxTokens": 100,
            "tools": tools or [{"name": "unused", "parameters": {"type": "object"}}],
        }
    )


def _as_calls(calls: list[ToolCall] | tuple[ToolCall, ...] | None) -> list[Call]:
    return [(c.id, c.name, c.arguments) for c in calls or ()]


def _matches(got: list[Call], want: list[Call]) -> bool:
    """Equal, except that a call recorded without an id may have any id (we make one)."""
    if len(got) != len(want):
        return False
    return all(
        (w_id is None or g_id == w_id) and (g_name, g_args) == (w_name, w_args)
        for (g_id, g_name, g_args), (w_id, w_name, w_args) in zip(got, want, strict=True)
    )


async def _replay(relative: str) -> list[tuple[list[Call], list[Call], list[Call] | None]]:
    """Per interaction: (recorded calls, calls the adapter returned, calls streamed one by
    one before the StreamEnd; None for JSON)."""
    cassette = load(relative)
    name = ADAPTER_OF[relative.split("/")[0]]
    first = cassette.interactions[0].url
    base = f"{first.scheme}://{first.host}" + ("/v1" if name == "openai" else "")
    client = httpx2.AsyncClient(transport=httpx2.MockTransport(cassette.handler))
    provider: Provider = create_provider(make_config(name, base_url=base), http_client=client)
    out: list[tuple[list[Call], list[Call], list[Call] | None]] = []
    try:
        for it, want in zip(cassette.interactions, _recorded_calls(relative), strict=True):
            request = _request(name, it, [n for _, n, _ in want])
            if it.sse:
                events = [e async for e in provider.stream(request)]
                end = events[-1]
                assert isinstance(end, StreamEnd)
                streamed = _as_calls([e for e in events if isinstance(e, ToolCall)])
                out.append((want, _as_calls(end.tool_calls), streamed))
            else:
                response = await provider.execute(request)
                out.append((want, _as_calls(response.tool_calls), None))
    finally:
        await provider.aclose()
        await client.aclose()
    return out


def test_the_recordings_hold_tool_calls_of_every_provider() -> None:
    assert {ADAPTER_OF[f.split("/")[0]] for f in TOOL_FILES} == {"claude", "openai", "gemini"}


@pytest.mark.parametrize("relative", TOOL_FILES)
async def test_recorded_tool_calls_come_back_from_the_adapter(relative: str) -> None:
    for want, got, streamed in await _replay(relative):
        assert _matches(got, want), (got, want)
        if streamed is not None:  # each call also streamed on its own, in the same order
            assert streamed == got
