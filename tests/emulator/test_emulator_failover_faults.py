"""The faults failover tests need: silence, a late first token, a stall, a cut stream, a
malformed event, and the providers' context-length and content-filter answers."""

from __future__ import annotations

import json
from typing import Any

import httpx2
import pytest

from automatosx.emulator import Fault, Rule, Scenario

from .conftest import Emulated, user

CLAUDE_HEADERS = {"x-api-key": "k", "anthropic-version": "2023-06-01"}
REQUESTS: dict[str, tuple[str, dict[str, str], dict[str, Any]]] = {
    "claude": (
        "/v1/messages",
        CLAUDE_HEADERS,
        {"model": "claude-sonnet-4-6", "max_tokens": 100, "messages": user("hello")},
    ),
    "openai": (
        "/v1/chat/completions",
        {"authorization": "Bearer k"},
        {"model": "gpt-4o", "messages": user("hello")},
    ),
    "gemini": (
        "/v1beta/models/gemini-2.5-flash:generateContent",
        {"x-goog-api-key": "k"},
        {"contents": [{"role": "user", "parts": [{"text": "hello"}]}]},
    ),
}
PROVIDERS = list(REQUESTS)


def request_for(provider: str, *, stream: bool) -> tuple[str, dict[str, str], dict[str, Any]]:
    path, headers, body = REQUESTS[provider]
    if stream and provider == "gemini":
        path = path.replace(":generateContent", ":streamGenerateContent?alt=sse")
    elif stream:
        body = body | {"stream": True}
    return path, headers, body


async def post(emu: Emulated, provider: str, *, stream: bool = False) -> httpx2.Response:
    path, headers, body = request_for(provider, stream=stream)
    return await emu.http.post(path, json=body, headers=headers)


def events(text: str) -> list[str]:
    """The `data:` payloads of an SSE body, in order."""
    return [
        line[len("data: ") :].strip()
        for line in text.replace("\r\n", "\n").split("\n")
        if line.startswith("data: ")
    ]


_TEXT_MARKERS = {"claude": '"content_block_delta"', "openai": '"content":"', "gemini": '"text"'}


def text_events(provider: str, payloads: list[str]) -> int:
    """How many of the payloads carry reply text (OpenAI's opening role chunk does not)."""
    marker = _TEXT_MARKERS[provider]
    return sum(1 for p in payloads if marker in p and '"role":"assistant"' not in p)


async def read_until_timeout(response: httpx2.Response) -> bytes:
    """The raw body received before reading timed out (fails if it never times out)."""
    received = b""
    with pytest.raises(httpx2.ReadTimeout):  # noqa: PT012 - the timeout ends the loop
        async for piece in response.aiter_raw():
            received += piece
    return received


def terminated(provider: str, payloads: list[str]) -> bool:
    """Whether the stream carries the provider's terminating event."""
    if provider == "claude":
        return any('"message_stop"' in p for p in payloads)
    if provider == "openai":
        return payloads[-1:] == ["[DONE]"]
    return any('"finishReason"' in p for p in payloads)


# -- silence, late first token, stall ---------------------------------------------------------


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_silence_sends_no_byte_until_the_client_gives_up(
    loopback: Emulated, provider: str
) -> None:
    loopback.scenario.add(Rule(provider=provider, silence=True))
    path, headers, body = request_for(provider, stream=True)
    with pytest.raises(httpx2.ReadTimeout):
        await loopback.http.post(path, json=body, headers=headers, timeout=0.3)
    assert loopback.scenario.count(provider) == 1
    loopback.scenario.clear()
    assert (await post(loopback, provider)).status_code == 200


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_late_first_token_sends_headers_then_waits_before_text(
    loopback: Emulated, provider: str
) -> None:
    loopback.scenario.add(Rule(provider=provider, late_first_token_ms=30_000))
    path, headers, body = request_for(provider, stream=True)
    timeout = httpx2.Timeout(5.0, read=0.3)
    async with loopback.http.stream(
        "POST", path, json=body, headers=headers, timeout=timeout
    ) as response:
        assert response.status_code == 200
        received = await read_until_timeout(response)
    assert text_events(provider, events(received.decode())) == 0


async def test_late_first_token_on_a_json_reply_delays_the_whole_response(
    loopback: Emulated,
) -> None:
    loopback.scenario.add(Rule(provider="openai", late_first_token_ms=30_000))
    path, headers, body = request_for("openai", stream=False)
    with pytest.raises(httpx2.ReadTimeout):
        await loopback.http.post(path, json=body, headers=headers, timeout=0.3)


async def test_late_first_token_in_process_still_completes(in_process: Emulated) -> None:
    in_process.scenario.add(Rule(late_first_token_ms=20))
    for provider in PROVIDERS:
        response = await post(in_process, provider, stream=True)
        assert terminated(provider, events(response.text))


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_stall_streams_some_chunks_then_keeps_the_socket_silent(
    loopback: Emulated, provider: str
) -> None:
    loopback.scenario.add(Rule(provider=provider, stall_after=2))
    path, headers, body = request_for(provider, stream=True)
    timeout = httpx2.Timeout(5.0, read=0.5)
    async with loopback.http.stream(
        "POST", path, json=body, headers=headers, timeout=timeout
    ) as response:
        assert response.status_code == 200
        received = await read_until_timeout(response)
    payloads = events(received.decode())
    assert text_events(provider, payloads) == 2
    assert not terminated(provider, payloads)


# -- cut and malformed streams ----------------------------------------------------------------


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_cut_ends_the_stream_cleanly_without_the_terminating_event(
    emu: Emulated, provider: str
) -> None:
    emu.scenario.add(Rule(provider=provider, cut_after=1))
    response = await post(emu, provider, stream=True)
    assert response.status_code == 200
    payloads = events(response.text)
    assert text_events(provider, payloads) == 1
    assert not terminated(provider, payloads)
    assert "error" not in response.text


async def test_cut_json_reply_is_a_truncated_body(in_process: Emulated) -> None:
    in_process.scenario.add(Rule(provider="openai", cut_after=0))
    response = await post(in_process, "openai")
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.text)


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("kind", ["not_json", "wrong_shape"])
async def test_malformed_event_sits_in_an_otherwise_complete_stream(
    in_process: Emulated, provider: str, kind: str
) -> None:
    in_process.scenario.add(Rule(provider=provider, malformed_event=kind, malformed_after=1))
    response = await post(in_process, provider, stream=True)
    payloads = events(response.text)
    assert terminated(provider, payloads)
    bad = [p for p in payloads if p.startswith('{"emulator"')]
    assert len(bad) == 1
    if kind == "not_json":
        with pytest.raises(json.JSONDecodeError):
            json.loads(bad[0])
    else:
        assert json.loads(bad[0]) == {"emulator": "an event of no known shape"}
    # It follows exactly one text event.
    assert text_events(provider, payloads[: payloads.index(bad[0])]) == 1


def test_fault_rejects_unknown_kinds() -> None:
    with pytest.raises(ValueError, match="malformed_event"):
        Fault(malformed_event="garbled")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="refusal"):
        Rule(refusal="nope")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="stall_after"):
        Rule(stall_after=-1)


def test_new_faults_load_from_the_scenario_format() -> None:
    scenario = Scenario.from_dict(
        {
            "rules": [
                {"provider": "openai", "cut_after": 2, "late_first_token_ms": 50},
                {"provider": "gemini", "refusal": "context_length"},
                {"provider": "claude", "silence": True},
            ]
        }
    )
    assert scenario.fault_for("openai", 1) == Fault(cut_after=2, late_first_token_ms=50)
    assert scenario.fault_for("gemini", 1).refusal == "context_length"
    assert scenario.fault_for("claude", 1).silence is True


# -- context length and content filters -------------------------------------------------------


async def test_context_length_errors_are_each_providers_own(in_process: Emulated) -> None:
    in_process.scenario.add(Rule(refusal="context_length"))
    claude = await post(in_process, "claude")
    assert claude.status_code == 400
    assert claude.json()["error"]["type"] == "invalid_request_error"
    assert claude.json()["error"]["message"] == "prompt is too long: 200002 tokens > 200000 maximum"
    gpt = await post(in_process, "openai")
    assert gpt.status_code == 400
    error = gpt.json()["error"]
    assert (error["code"], error["type"], error["param"]) == (
        "context_length_exceeded",
        "invalid_request_error",
        "messages",
    )
    assert error["message"].startswith("This model's maximum context length is 128000 tokens.")
    gemini = await post(in_process, "gemini")
    assert gemini.status_code == 400
    assert gemini.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert gemini.json()["error"]["message"] == (
        "The input token count (1048578) exceeds the maximum number of tokens allowed (1048576)."
    )


async def test_content_filter_replies_stop_for_safety(in_process: Emulated) -> None:
    in_process.scenario.add(Rule(refusal="content_filter"))
    claude = await post(in_process, "claude")
    assert claude.json()["stop_reason"] == "refusal"
    gpt = await post(in_process, "openai")
    assert gpt.json()["choices"][0]["finish_reason"] == "content_filter"
    gemini = await post(in_process, "gemini")
    candidate = gemini.json()["candidates"][0]
    assert candidate["finishReason"] == "SAFETY"
    assert "content" not in candidate
    assert any(r.get("blocked") for r in candidate["safetyRatings"])


async def test_content_filter_streams_end_with_the_safety_stop(in_process: Emulated) -> None:
    in_process.scenario.add(Rule(refusal="content_filter"))
    claude = events((await post(in_process, "claude", stream=True)).text)
    delta = next(json.loads(p) for p in claude if '"message_delta"' in p)
    assert delta["delta"]["stop_reason"] == "refusal"
    gpt = events((await post(in_process, "openai", stream=True)).text)
    finishes = [
        json.loads(p)["choices"][0]["finish_reason"]
        for p in gpt
        if p != "[DONE]" and json.loads(p)["choices"]
    ]
    assert finishes[-1] == "content_filter"
    gemini = events((await post(in_process, "gemini", stream=True)).text)
    assert json.loads(gemini[-1])["candidates"][0]["finishReason"] == "SAFETY"


async def test_blocked_prompts_are_answered_as_each_service_answers(in_process: Emulated) -> None:
    in_process.scenario.add(Rule(refusal="prompt_blocked"))
    gpt = await post(in_process, "openai")
    assert gpt.status_code == 400
    assert gpt.json()["error"]["code"] == "content_policy_violation"
    assert gpt.json()["error"]["type"] == "invalid_request_error"
    gemini = await post(in_process, "gemini")
    assert gemini.status_code == 200
    assert gemini.json()["promptFeedback"]["blockReason"] == "SAFETY"
    assert "candidates" not in gemini.json()
    gemini_stream = events((await post(in_process, "gemini", stream=True)).text)
    assert json.loads(gemini_stream[0])["promptFeedback"]["blockReason"] == "SAFETY"
    claude = await post(in_process, "claude")
    assert claude.json()["stop_reason"] == "refusal"
    assert claude.json()["content"] == []
