"""Replay every recording of real traffic in ../shared/conformance through the real SDK and
our adapter (an httpx2.MockTransport serves the recorded response), and check the adapter's
text, usage and finish reason — or its error class — against the recording.

The recordings are read where they are (``AUTOMATOSX_CONFORMANCE_DIR`` overrides the
location), never copied into the project. The expected values are read from the recorded
bodies with a small reference parser here, independent of the SDKs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx2
import pytest
import yaml

from automatosx.emulator import CONFORMANCE_ENV, conformance_dir, conformance_files
from automatosx.errors import (
    InvalidRequestError,
    ModelNotFoundError,
    ProviderError,
    RateLimitError,
)
from automatosx.providers import Provider, create_provider
from automatosx.schemas import ProviderRequest

from .conftest import collect, make_config

DIR = conformance_dir()
FILES = [p.relative_to(DIR).as_posix() for p in conformance_files()] if DIR else []
pytestmark = pytest.mark.skipif(
    DIR is None,
    reason=f"no recordings: ../shared/conformance is absent (set {CONFORMANCE_ENV})",
)

ADAPTER_OF = {"anthropic": "claude", "openai": "openai", "gemini": "gemini"}
STOP_REASONS = {
    "claude": {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length",
               "tool_use": "tool_calls", "refusal": "content_filter"},
    "openai": {"stop": "stop", "length": "length", "content_filter": "content_filter",
               "tool_calls": "tool_calls", "function_call": "tool_calls"},
    "gemini": {"STOP": "stop", "MAX_TOKENS": "length", "SAFETY": "content_filter"},
}  # fmt: skip
_DROPPED_HEADERS = {"content-length", "transfer-encoding", "content-encoding", "connection"}


@dataclass
class Interaction:
    method: str
    url: httpx2.URL
    request_body: dict[str, Any]
    status: int
    headers: dict[str, str]
    body: bytes
    sse: bool

    def response(self) -> httpx2.Response:
        return httpx2.Response(self.status, headers=self.headers, content=self.body)


@dataclass
class Cassette:
    interactions: list[Interaction]
    served: list[httpx2.Request] = field(default_factory=list)

    def handler(self, request: httpx2.Request) -> httpx2.Response:
        index = len(self.served)
        self.served.append(request)
        assert index < len(self.interactions), f"unexpected extra request {request.url}"
        recorded = self.interactions[index]
        assert request.method == recorded.method
        assert _route(request.url) == _route(recorded.url)
        return recorded.response()


def _route(url: httpx2.URL) -> str:
    """The path without the API version prefix (google-genai 3 calls v1, the recording v1beta)."""
    path = url.path
    for prefix in ("/v1beta/", "/v1/", "/api/v1/"):
        if path.startswith(prefix):
            return path[len(prefix) :]
    return path


def load(relative: str) -> Cassette:
    assert DIR is not None
    path = DIR / relative
    if path.name.endswith(".sse.txt"):  # a bare Anthropic SSE body
        return Cassette(
            [
                Interaction(
                    "POST",
                    httpx2.URL("https://api.anthropic.com/v1/messages"),
                    {"model": "claude-sonnet-4-6", "stream": True, "messages": []},
                    200,
                    {"content-type": "text/event-stream"},
                    path.read_bytes(),
                    True,
                )
            ]
        )
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    interactions = []
    for item in data["interactions"]:
        request, response = item["request"], item["response"]
        headers = {
            k: ", ".join(v)
            for k, v in response["headers"].items()
            if k.lower() not in _DROPPED_HEADERS
        }
        if "parsed_body" in response:
            body = json.dumps(response["parsed_body"]).encode()
        else:
            body = response["body"]["string"].encode()
        interactions.append(
            Interaction(
                request["method"],
                httpx2.URL(request["uri"]),
                request.get("parsed_body") or {},
                response["status"]["code"],
                headers,
                body,
                "text/event-stream" in headers.get("content-type", ""),
            )
        )
    return Cassette(interactions)


# -- what the recording says the adapter should return ---------------------------------------


@dataclass
class Expected:
    text: str
    input_tokens: int
    output_tokens: int
    finish_reason: str | None


def _sse_data(body: bytes) -> list[dict[str, Any]]:
    out = []
    for line in body.decode().splitlines():
        if line.startswith("data:") and line[5:].strip() not in ("", "[DONE]"):
            out.append(json.loads(line[5:]))
    return out


def _anthropic_usage(usage: dict[str, Any]) -> int:
    return (
        usage["input_tokens"]
        + (usage.get("cache_creation_input_tokens") or 0)
        + (usage.get("cache_read_input_tokens") or 0)
    )


def expected_claude(it: Interaction) -> Expected:
    if not it.sse:
        body = json.loads(it.body)
        text = "".join(b["text"] for b in body["content"] if b["type"] == "text")
        usage = body["usage"]
        finish = STOP_REASONS["claude"][body["stop_reason"]]
        return Expected(text, _anthropic_usage(usage), usage["output_tokens"], finish)
    text, input_tokens, output_tokens, stop = "", 0, 0, None
    for event in _sse_data(it.body):
        if event["type"] == "message_start":
            input_tokens = _anthropic_usage(event["message"]["usage"])
        elif event["type"] == "content_block_delta" and event["delta"]["type"] == "text_delta":
            text += event["delta"]["text"]
        elif event["type"] == "message_delta":
            stop = event["delta"]["stop_reason"]
            output_tokens = event["usage"]["output_tokens"]
            if event["usage"].get("input_tokens") is not None:
                input_tokens = _anthropic_usage(event["usage"])
    return Expected(text, input_tokens, output_tokens, STOP_REASONS["claude"][stop])


def expected_openai(it: Interaction) -> Expected:
    if not it.sse:
        body = json.loads(it.body)
        choice, usage = body["choices"][0], body["usage"]
        finish = STOP_REASONS["openai"][choice["finish_reason"]]
        text = choice["message"]["content"] or ""
        return Expected(text, usage["prompt_tokens"], usage["completion_tokens"], finish)
    text, usage, finish = "", {"prompt_tokens": 0, "completion_tokens": 0}, None
    for chunk in _sse_data(it.body):
        for choice in chunk["choices"]:
            text += choice["delta"].get("content") or ""
            finish = choice.get("finish_reason") or finish
        usage = chunk.get("usage") or usage
    return Expected(
        text,
        usage["prompt_tokens"],
        usage["completion_tokens"],
        STOP_REASONS["openai"][finish] if finish else None,
    )


def expected_gemini(it: Interaction) -> Expected:
    chunks = _sse_data(it.body) if it.sse else [json.loads(it.body)]
    text, finish, usage = "", None, {}
    for chunk in chunks:
        candidate = chunk["candidates"][0]
        for part in candidate["content"].get("parts", []):
            if "text" in part and not part.get("thought"):
                text += part["text"]
        finish = candidate.get("finishReason") or finish
        usage = chunk.get("usageMetadata") or usage
    input_tokens = usage.get("promptTokenCount", 0) + usage.get("toolUsePromptTokenCount", 0)
    output_tokens = usage.get("candidatesTokenCount", 0) + usage.get("thoughtsTokenCount", 0)
    assert input_tokens + output_tokens == usage["totalTokenCount"]
    return Expected(text, input_tokens, output_tokens, STOP_REASONS["gemini"][finish])


EXPECTED = {"claude": expected_claude, "openai": expected_openai, "gemini": expected_gemini}


# -- the request we send for a recorded one ----------------------------------------------------


def request_for(name: str, it: Interaction) -> ProviderRequest:
    body = it.request_body
    model: str | None
    messages: list[dict[str, str]] = []
    system = body.get("system")
    if name == "gemini":
        model = it.url.path.rsplit("/", 1)[-1].split(":")[0]
        instruction = body.get("systemInstruction")
        system = instruction["parts"][0]["text"] if instruction else None
    else:
        model = body.get("model", "m")
    if name == "claude":
        model = None  # the SDK warns on some recorded (now deprecated) models; any model replays
    if name == "openai":
        system = next(
            (m["content"] for m in body.get("messages", []) if m["role"] == "system"), None
        )
    if system:
        messages.append({"role": "system", "content": system})
    messages.append({"role": "user", "content": "replayed"})
    return ProviderRequest.model_validate(
        {"messages": messages, "model": model, "stream": it.sse, "max_tokens": 100}
    )


def check_request_sent(name: str, sent: httpx2.Request, recorded: Interaction) -> None:
    body = json.loads(sent.content)
    if name == "claude":
        assert body.get("stream", False) is recorded.sse
        assert ("system" in body) == ("system" in recorded.request_body)
    elif name == "openai":
        assert body.get("stream", False) is recorded.sse
        if recorded.sse:
            assert body["stream_options"] == {"include_usage": True}
        roles = [m["role"] for m in body["messages"]]
        assert ("system" in roles) == any(
            m["role"] == "system" for m in recorded.request_body.get("messages", [])
        )
    else:
        assert ("systemInstruction" in body) == ("systemInstruction" in recorded.request_body)


# -- the tests -------------------------------------------------------------------------------


async def replay(relative: str) -> tuple[Cassette, list[Any]]:
    """Run each recorded interaction through the adapter; returns what each attempt gave."""
    cassette = load(relative)
    name = ADAPTER_OF[relative.split("/")[0]]
    first = cassette.interactions[0].url
    base = f"{first.scheme}://{first.host}" + ("/api/v1" if "/api/v1/" in first.path else "")
    if name == "openai" and "/api/v1/" not in first.path:
        base += "/v1"
    client = httpx2.AsyncClient(transport=httpx2.MockTransport(cassette.handler))
    provider: Provider = create_provider(make_config(name, base_url=base), http_client=client)
    outcomes: list[Any] = []
    try:
        for it in cassette.interactions:
            request = request_for(name, it)
            try:
                if it.sse:
                    outcomes.append(await collect(provider, request))
                else:
                    outcomes.append(await provider.execute(request))
            except ProviderError as exc:
                outcomes.append(exc)
    finally:
        await provider.aclose()
        await client.aclose()
    return cassette, outcomes


ADAPTER_FILES = [f for f in FILES if not f.startswith("openai/responses_")]
RESPONSES_API_FILES = [f for f in FILES if f.startswith("openai/responses_")]


@pytest.mark.parametrize("relative", ADAPTER_FILES)
async def test_recording_replays_through_the_adapter(relative: str) -> None:
    name = ADAPTER_OF[relative.split("/")[0]]
    cassette, outcomes = await replay(relative)
    assert len(cassette.served) == len(cassette.interactions)
    for recorded, sent, outcome in zip(
        cassette.interactions, cassette.served, outcomes, strict=True
    ):
        check_request_sent(name, sent, recorded)
        if recorded.status >= 400:
            assert isinstance(outcome, ProviderError)
            assert outcome.status_code == recorded.status
            continue
        assert not isinstance(outcome, ProviderError), outcome
        want = EXPECTED[name](recorded)
        if recorded.sse:
            chunks, end = outcome
            got = ("".join(chunks), end.usage.input_tokens, end.usage.output_tokens)
            finish = end.finish_reason
        else:
            got = (outcome.content, outcome.tokens.input_tokens, outcome.tokens.output_tokens)
            finish = outcome.finish_reason
        assert got == (want.text, want.input_tokens, want.output_tokens)
        assert finish == want.finish_reason


ERROR_CLASSES: dict[str, type[ProviderError]] = {
    "anthropic/error_400_invalid_request.yaml": InvalidRequestError,
    "anthropic/error_404_not_found.yaml": ModelNotFoundError,
    "openai/chat_error_400_unsupported_value.yaml": InvalidRequestError,
    "openai/openrouter_compat_error_429.yaml": RateLimitError,
    "gemini/error_404_not_found.yaml": ModelNotFoundError,
}


@pytest.mark.parametrize("relative", sorted(ERROR_CLASSES))
async def test_recorded_errors_map_to_their_class(relative: str) -> None:
    if relative not in FILES:
        pytest.skip(f"{relative} is not in the recordings")
    _, outcomes = await replay(relative)
    for outcome in outcomes:
        assert type(outcome) is ERROR_CLASSES[relative]


def test_every_error_recording_has_an_expected_class() -> None:
    for relative in ADAPTER_FILES:
        statuses = {it.status for it in load(relative).interactions}
        if any(status >= 400 for status in statuses):
            assert relative in ERROR_CLASSES


# The openai responses_* recordings are the Responses API, which the Chat Completions adapter
# does not call: they are replayed through the SDK's own `responses` API on the adapter's
# client, and the error one through the adapter's map_error.


@pytest.mark.parametrize("relative", RESPONSES_API_FILES)
async def test_responses_api_recording_replays_through_the_sdk(relative: str) -> None:
    cassette = load(relative)
    client = httpx2.AsyncClient(transport=httpx2.MockTransport(cassette.handler))
    provider = create_provider(
        make_config("openai", base_url="https://api.openai.com/v1"), http_client=client
    )
    sdk: Any = provider._client  # type: ignore[attr-defined]
    try:
        for it in cassette.interactions:
            params = {"model": it.request_body.get("model", "gpt-4o"), "input": "replayed"}
            try:
                if it.request_body.get("stream"):
                    events = [e async for e in await sdk.responses.create(**params, stream=True)]
                    completed = [e for e in events if e.type == "response.completed"]
                    assert len(completed) == 1
                    usage = completed[0].response.usage
                else:
                    response = await sdk.responses.create(**params)
                    recorded = json.loads(it.body)
                    assert response.output_text == "".join(
                        c["text"]
                        for o in recorded["output"]
                        if o["type"] == "message"
                        for c in o["content"]
                        if c["type"] == "output_text"
                    )
                    usage = response.usage
                assert usage.total_tokens == usage.input_tokens + usage.output_tokens
                assert it.status < 400
            except Exception as exc:
                assert it.status >= 400
                mapped = provider.map_error(exc)  # type: ignore[attr-defined]
                assert type(mapped) is InvalidRequestError
                assert mapped.status_code == it.status
    finally:
        await provider.aclose()
        await client.aclose()
