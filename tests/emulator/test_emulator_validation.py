"""Bodies the real services reject get a 400 in each service's own error shape, never a 500
or a 200; unknown routes get JSON errors; Gemini takes snake_case field names."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import httpx2
import openai
import pytest

from .conftest import Emulated, user

CLAUDE = "claude-sonnet-4-6"
CLAUDE_HEADERS = {"x-api-key": "k", "anthropic-version": "2023-06-01"}
GEMINI_PATH = "/v1beta/models/gemini-2.5-flash:generateContent"


def claude_body(**changes: Any) -> dict[str, Any]:
    return {"model": CLAUDE, "max_tokens": 50, "messages": user("hi")} | changes


def openai_body(**changes: Any) -> dict[str, Any]:
    return {"model": "gpt-4o", "messages": user("hi")} | changes


def gemini_body(**changes: Any) -> dict[str, Any]:
    return {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]} | changes


async def post_claude(emu: Emulated, body: Any) -> httpx2.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return await emu.http.post("/v1/messages", content=content, headers=CLAUDE_HEADERS)


async def post_openai(emu: Emulated, body: Any) -> httpx2.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return await emu.http.post(
        "/v1/chat/completions", content=content, headers={"authorization": "Bearer k"}
    )


async def post_gemini(emu: Emulated, body: Any) -> httpx2.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return await emu.http.post(GEMINI_PATH, content=content, headers={"x-goog-api-key": "k"})


def assert_claude_400(response: httpx2.Response, message: str) -> None:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["type"] == "error"
    assert body["error"] == {"type": "invalid_request_error", "message": message}
    assert body["request_id"] == response.headers["request-id"]


def assert_openai_400(response: httpx2.Response, param: str | None, code: str | None) -> str:
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error"
    assert (error["param"], error["code"]) == (param, code)
    message: str = error["message"]
    return message


def assert_gemini_400(response: httpx2.Response) -> str:
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == 400
    assert error["status"] == "INVALID_ARGUMENT"
    message: str = error["message"]
    return message


DEEP = b"[" * 100_000 + b"]" * 100_000


# -- Anthropic --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "There was an error parsing the body of your request"),
        (b"[1, 2]", "Input should be a valid dictionary"),
        (claude_body(stream="yes"), "stream: Input should be a valid boolean"),
        (claude_body(max_tokens=-1), "max_tokens: Input should be greater than or equal to 1"),
        (claude_body(max_tokens=0), "max_tokens: Input should be greater than or equal to 1"),
        (claude_body(max_tokens="ten"), "max_tokens: Input should be a valid integer"),
        (claude_body(max_tokens=1.5), "max_tokens: Input should be a valid integer"),
        (claude_body(messages=["x"]), "messages.0: Input should be a valid dictionary"),
        (
            claude_body(messages=[{"role": 7, "content": "x"}]),
            "messages.0.role: Input should be 'user' or 'assistant'",
        ),
        (
            claude_body(messages=[{"role": "wizard", "content": "x"}]),
            "messages.0.role: Input should be 'user' or 'assistant'",
        ),
        (
            claude_body(messages=[{"role": "user", "content": [{"type": "text", "text": 5}]}]),
            "messages.0.content.0.text: Input should be a valid string",
        ),
        (claude_body(messages=[{"role": "user"}]), "messages.0.content: Field required"),
        ({"max_tokens": 5, "messages": user("x")}, "model: Field required"),
        ({"model": CLAUDE, "max_tokens": 5}, "messages: Field required"),
        (claude_body(temperature=1.5), "temperature: Input should be less than or equal to 1"),
        (claude_body(temperature="hot"), "temperature: Input should be a valid number"),
        (claude_body(messages=[]), "messages: at least one message is required"),
        (DEEP, "Request body is nested too deeply"),
    ],
)
async def test_claude_rejects_bad_bodies_with_invalid_request_error(
    in_process: Emulated, body: Any, message: str
) -> None:
    assert_claude_400(await post_claude(in_process, body), message)


async def test_claude_sdk_surfaces_bad_values_as_bad_request(in_process: Emulated) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        await in_process.claude.messages.create(model=CLAUDE, max_tokens=-1, messages=user("x"))
    assert caught.value.api_message == "max_tokens: Input should be greater than or equal to 1"
    with pytest.raises(anthropic.BadRequestError):
        await in_process.claude.messages.create(
            model=CLAUDE,
            max_tokens=5,
            messages=[{"role": "wizard", "content": "x"}],  # type: ignore[misc, list-item]
        )


# -- OpenAI -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        (b"{not json", None, None),
        (openai_body(stream="yes"), "stream", "invalid_type"),
        (openai_body(max_tokens=-1), "max_tokens", "integer_below_min_value"),
        (openai_body(max_tokens=0), "max_tokens", "integer_below_min_value"),
        (openai_body(max_completion_tokens="ten"), "max_completion_tokens", "invalid_type"),
        (openai_body(messages=["x"]), "messages[0]", "invalid_type"),
        (openai_body(messages=[{"role": 7, "content": "x"}]), "messages[0].role", "invalid_value"),
        (
            openai_body(messages=[{"role": "wizard", "content": "x"}]),
            "messages[0].role",
            "invalid_value",
        ),
        (
            openai_body(messages=[{"role": "user", "content": [{"type": "text", "text": 5}]}]),
            "messages[0].content[0].text",
            "invalid_type",
        ),
        (
            openai_body(messages=[{"content": "x"}]),
            "messages[0].role",
            "missing_required_parameter",
        ),
        ({"model": "gpt-4o"}, "messages", "missing_required_parameter"),
        (openai_body(temperature=3), "temperature", "decimal_above_max_value"),
        (openai_body(temperature=-1), "temperature", "decimal_below_min_value"),
        (openai_body(top_p="x"), "top_p", "invalid_type"),
        (openai_body(messages=[]), "messages", "empty_array"),
        (DEEP, None, None),
    ],
)
async def test_openai_rejects_bad_bodies_with_param_and_code(
    in_process: Emulated, body: Any, param: str | None, code: str | None
) -> None:
    assert_openai_400(await post_openai(in_process, body), param, code)


async def test_openai_messages_match_the_services_wording(in_process: Emulated) -> None:
    below = await post_openai(in_process, openai_body(max_tokens=-1))
    assert assert_openai_400(below, "max_tokens", "integer_below_min_value") == (
        "Invalid 'max_tokens': integer below minimum value. Expected a value >= 1, but got -1 "
        "instead."
    )
    stream = await post_openai(in_process, openai_body(stream="yes"))
    assert assert_openai_400(stream, "stream", "invalid_type") == (
        "Invalid type for 'stream': expected a boolean, but got a string instead."
    )
    model = await post_openai(in_process, {"messages": user("x")})
    assert model.json()["error"]["message"] == "you must provide a model parameter"


async def test_openai_sdk_surfaces_bad_values_as_bad_request(in_process: Emulated) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await in_process.gpt.chat.completions.create(
            model="gpt-4o", messages=user("x"), temperature=5
        )
    assert caught.value.code == "decimal_above_max_value"
    assert caught.value.param == "temperature"
    with pytest.raises(openai.BadRequestError) as role:
        await in_process.gpt.chat.completions.create(
            model="gpt-4o",
            messages=[{"role": "wizard", "content": "x"}],  # type: ignore[misc, list-item]
        )
    assert role.value.param == "messages[0].role"


# -- Gemini -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[1]",
        gemini_body(generationConfig={"maxOutputTokens": -1}),
        gemini_body(generationConfig={"maxOutputTokens": 0}),
        gemini_body(generationConfig={"maxOutputTokens": "ten"}),
        gemini_body(generation_config={"max_output_tokens": "ten"}),
        gemini_body(contents=["x"]),
        gemini_body(contents="hi"),
        gemini_body(contents=[{"role": 7, "parts": [{"text": "x"}]}]),
        gemini_body(contents=[{"role": "wizard", "parts": [{"text": "x"}]}]),
        gemini_body(contents=[{"role": "user", "parts": [{"text": 5}]}]),
        gemini_body(contents=[{"role": "user"}]),
        {},
        gemini_body(generationConfig={"temperature": 3}),
        gemini_body(generationConfig={"topP": 1.5}),
        gemini_body(contents=[]),
        DEEP,
    ],
)
async def test_gemini_rejects_bad_bodies_with_invalid_argument(
    in_process: Emulated, body: Any
) -> None:
    assert_gemini_400(await post_gemini(in_process, body))


async def test_gemini_messages_name_the_field(in_process: Emulated) -> None:
    tokens = await post_gemini(in_process, gemini_body(generationConfig={"maxOutputTokens": "x"}))
    assert assert_gemini_400(tokens) == (
        "Invalid value at 'generation_config.max_output_tokens' (TYPE_INT32), \"x\""
    )
    role = await post_gemini(in_process, gemini_body(contents=[{"role": "bot", "parts": []}]))
    assert assert_gemini_400(role) == "Please use a valid role: user, model."


async def test_gemini_accepts_snake_case_field_names(in_process: Emulated) -> None:
    body = {
        "contents": [{"role": "user", "parts": [{"text": "hello there"}]}],
        "system_instruction": {"parts": [{"text": "be brief"}]},
        "generation_config": {
            "max_output_tokens": 3,
            "stop_sequences": ["zz"],
            "top_p": 0.5,
            "temperature": 0.2,
        },
        "safety_settings": [],
    }
    response = await post_gemini(in_process, body)
    assert response.status_code == 200, response.text
    candidate = response.json()["candidates"][0]
    assert candidate["finishReason"] == "MAX_TOKENS"
    assert len(candidate["content"]["parts"][0]["text"].split()) == 3


async def test_deep_but_reasonable_nesting_is_accepted(in_process: Emulated) -> None:
    nested: Any = "leaf"
    for _ in range(40):
        nested = {"x": nested}
    body = claude_body(metadata={"user_id": "u", "blob": nested})
    response = await post_claude(in_process, body)
    assert response.status_code == 200, response.text


# -- unknown routes ---------------------------------------------------------------------------


async def test_unknown_routes_answer_json_in_each_providers_shape(in_process: Emulated) -> None:
    http = in_process.http
    claude = await http.post("/v1/messagez", headers=CLAUDE_HEADERS, json={})
    assert claude.status_code == 404
    assert claude.json()["error"]["type"] == "not_found_error"
    assert claude.json()["request_id"] == claude.headers["request-id"]
    gpt = await http.post("/v1/chat/completionz", headers={"authorization": "Bearer k"}, json={})
    assert gpt.status_code == 404
    assert gpt.json()["error"]["message"] == "Invalid URL (POST /v1/chat/completionz)"
    assert set(gpt.json()["error"]) == {"message", "type", "param", "code"}
    gemini = await http.post("/v1beta/tunedModels/x:generate", headers={"x-goog-api-key": "k"})
    assert gemini.status_code == 404
    assert gemini.json()["error"]["status"] == "NOT_FOUND"
    gemini_version = await http.post(GEMINI_PATH.replace("v1beta", "v2"), json=gemini_body())
    assert gemini_version.json()["error"]["status"] == "NOT_FOUND"
    for response in (claude, gpt, gemini, gemini_version):
        assert response.headers["content-type"] == "application/json"


async def test_wrong_method_on_a_known_path_is_a_json_error(in_process: Emulated) -> None:
    response = await in_process.http.get("/v1/chat/completions")
    assert response.status_code in (404, 405)
    assert response.json()["error"]["message"]
    models = await in_process.http.get("/v3/models", headers={"x-api-key": "k"})
    assert models.status_code == 404
    assert models.json()["error"]["type"] == "not_found_error"


async def test_claude_error_request_id_matches_the_header(in_process: Emulated) -> None:
    with pytest.raises(anthropic.NotFoundError) as caught:
        await in_process.claude.messages.create(model="llama", max_tokens=5, messages=user("x"))
    assert caught.value.request_id == caught.value.body["request_id"]  # type: ignore[index]
