"""The request fields beyond the common sampling set — ``stop``, ``seed``,
``presencePenalty``, ``frequencyPenalty`` and ``providerOptions`` — through each real SDK:
the exact native body each adapter sends (over an httpx2.MockTransport wire), what a provider
without the field refuses before any HTTP is sent, and the same requests answered over real
HTTP by the emulator."""

from __future__ import annotations

from typing import Any

import pytest

from automatosx.errors import InvalidRequestError
from automatosx.schemas import ProviderRequest

from .conftest import MODELS, NAMES, json_response, make_request

CLAUDE_REPLY = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": MODELS["claude"],
    "content": [{"type": "text", "text": "Hi."}],
    "stop_reason": "end_turn",
    "usage": {"input_tokens": 3, "output_tokens": 1},
}
OPENAI_REPLY = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "model": MODELS["openai"],
    "choices": [
        {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "Hi."}}
    ],
    "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
}
GEMINI_REPLY = {
    "candidates": [
        {"content": {"role": "model", "parts": [{"text": "Hi."}]}, "finishReason": "STOP"}
    ],
    "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 1, "totalTokenCount": 4},
    "modelVersion": MODELS["gemini"],
}
REPLIES = {"claude": CLAUDE_REPLY, "openai": OPENAI_REPLY, "gemini": GEMINI_REPLY}


def knob_request(**fields: Any) -> ProviderRequest:
    doc: dict[str, Any] = {"messages": [{"role": "user", "content": "Hello"}], **fields}
    return ProviderRequest.model_validate(doc)


def test_stop_is_accepted_as_a_string_a_list_or_stop_sequences() -> None:
    assert knob_request(stop="END").stop_sequences == ["END"]
    assert knob_request(stop=["a", "b"]).stop_sequences == ["a", "b"]
    assert knob_request(stopSequences=["c"]).stop_sequences == ["c"]
    dumped = knob_request(stop="END").model_dump(by_alias=True)
    assert dumped["stopSequences"] == ["END"]


@pytest.mark.parametrize(
    ("field", "value"),
    [("seed", 2**63), ("presencePenalty", 2.5), ("frequencyPenalty", -3), ("timeoutMs", 0)],
)
def test_out_of_range_knobs_are_refused_naming_the_field(field: str, value: Any) -> None:
    with pytest.raises(ValueError, match=field.lower()[:4]):
        knob_request(**{field: value})


async def test_openai_sends_seed_penalties_stop_and_its_options(wire_provider: Any) -> None:
    provider, wire = wire_provider("openai", json_response(200, OPENAI_REPLY))
    request = knob_request(
        stop="END",
        seed=7,
        presencePenalty=0.5,
        frequencyPenalty=-0.25,
        providerOptions={"openai": {"logprobs": True, "seed": 8}, "claude": {"x": 1}},
    )
    await provider.execute(request)
    body = wire.body
    assert body["stop"] == ["END"]
    assert body["presence_penalty"] == 0.5
    assert body["frequency_penalty"] == -0.25
    assert body["logprobs"] is True
    assert body["seed"] == 8  # the kind's own options win over the router's field
    assert "x" not in body


async def test_claude_sends_its_options_in_the_body(wire_provider: Any) -> None:
    provider, wire = wire_provider("claude", json_response(200, CLAUDE_REPLY))
    request = knob_request(
        stop=["END"],
        providerOptions={"claude": {"metadata": {"user_id": "u-1"}, "top_k": 5}, "openai": {}},
    )
    await provider.execute(request)
    body = wire.body
    assert body["stop_sequences"] == ["END"]
    assert body["metadata"] == {"user_id": "u-1"}
    assert body["top_k"] == 5


@pytest.mark.parametrize("field", ["seed", "presencePenalty", "frequencyPenalty"])
async def test_claude_refuses_what_it_has_no_field_for_before_sending(
    wire_provider: Any, field: str
) -> None:
    provider, wire = wire_provider("claude", json_response(200, CLAUDE_REPLY))
    with pytest.raises(InvalidRequestError, match=field) as caught:
        await provider.execute(knob_request(**{field: 1}))
    assert caught.value.code == "UNSUPPORTED_FEATURE"
    assert wire.requests == []


async def test_gemini_sends_seed_penalties_and_config_options(wire_provider: Any) -> None:
    provider, wire = wire_provider("gemini", json_response(200, GEMINI_REPLY))
    request = knob_request(
        stop="END",
        seed=11,
        presencePenalty=0.1,
        frequencyPenalty=0.2,
        providerOptions={"gemini": {"topK": 4, "candidate_count": 1}},
    )
    await provider.execute(request)
    config = wire.body["generationConfig"]
    assert config["stopSequences"] == ["END"]
    assert config["seed"] == 11
    assert config["presencePenalty"] == 0.1
    assert config["frequencyPenalty"] == 0.2
    assert config["topK"] == 4
    assert config["candidateCount"] == 1


@pytest.mark.parametrize("key", ["no_such_field", "http_options", "shouldReturnHttpResponse"])
async def test_gemini_refuses_unknown_or_router_owned_options_before_sending(
    wire_provider: Any, key: str
) -> None:
    provider, wire = wire_provider("gemini", json_response(200, GEMINI_REPLY))
    with pytest.raises(InvalidRequestError, match=f"providerOptions.gemini.{key}"):
        await provider.execute(knob_request(providerOptions={"gemini": {key: 1}}))
    assert wire.requests == []


@pytest.mark.parametrize("name", NAMES)
async def test_knobs_travel_over_real_http_to_the_emulator(live_provider: Any, name: str) -> None:
    provider = live_provider(name)
    fields: dict[str, Any] = {"stop_sequences": ["zzz"], "max_tokens": 50}
    if name != "claude":
        fields.update(seed=3, presence_penalty=0.5, frequency_penalty=0.5)
    response = await provider.execute(make_request(**fields))
    assert response.content
    assert response.finish_reason == "stop"
