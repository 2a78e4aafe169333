"""The emulator knows every top-level field the real APIs accept, and refuses any other with
a 400 like the services (issue 19, item 9): the accepted sets are derived here again from the
installed SDKs' own request types, so an SDK upgrade that adds a field fails this test until
the emulator learns it. A recursive response_model (a tree) works through the router, and the
Gemini wire quotes non-ASCII tool results as they are.
"""

from __future__ import annotations

import inspect
import json
import re
from typing import Any

import anthropic
import google.genai.models as genai_models
import httpx2
import openai
import pytest
from anthropic.types import message_create_params as anthropic_params
from anthropic.types.beta import message_create_params as anthropic_beta_params
from google.genai import errors as genai_errors
from google.genai import types as genai_types
from openai.types.chat import completion_create_params
from openai.types.responses import response_create_params
from pydantic import BaseModel

from automatosx import Router
from automatosx.emulator import EmulatorServer, Scenario, create_app
from automatosx.emulator._fields import ACCEPTED_FIELDS
from automatosx.schemas import ProviderConfig

from .conftest import Emulated, user

# Fields an SDK's params type declares that travel as headers or query, not in the body.
NOT_IN_BODY = {"betas"}


def _typed_dict_keys(*types: Any) -> set[str]:
    keys: set[str] = set()
    for td in types:
        keys |= set(td.__required_keys__) | set(td.__optional_keys__)
    return keys - NOT_IN_BODY


def _genai_request_fields(*converters: Any) -> set[str]:
    """The top-level GenerateContentRequest fields google-genai's converters write."""
    fields = {"contents", "generationConfig"}
    for converter in converters:
        source = inspect.getsource(converter)
        fields |= set(re.findall(r"setv\(\s*parent_object,\s*\[\s*'(\w+)'", source))
    return fields


SDK_FIELDS: dict[str, set[str]] = {
    "claude": _typed_dict_keys(
        anthropic_params.MessageCreateParamsStreaming,
        anthropic_params.MessageCreateParamsNonStreaming,
        anthropic_beta_params.MessageCreateParamsStreaming,
        anthropic_beta_params.MessageCreateParamsNonStreaming,
    ),
    "openai": _typed_dict_keys(
        completion_create_params.CompletionCreateParamsStreaming,
        completion_create_params.CompletionCreateParamsNonStreaming,
    ),
    "responses": _typed_dict_keys(
        response_create_params.ResponseCreateParamsStreaming,
        response_create_params.ResponseCreateParamsNonStreaming,
    ),
    "gemini": _genai_request_fields(genai_models._GenerateContentConfig_to_mldev),
    "vertex": _genai_request_fields(genai_models._GenerateContentConfig_to_vertex),
}

ROUTES: dict[str, tuple[str, dict[str, str], dict[str, Any]]] = {
    "claude": (
        "/v1/messages",
        {"x-api-key": "k", "anthropic-version": "2023-06-01"},
        {"model": "claude-sonnet-4-6", "max_tokens": 16, "messages": user("hi")},
    ),
    "openai": (
        "/v1/chat/completions",
        {"authorization": "Bearer k"},
        {"model": "gpt-4o", "messages": user("hi")},
    ),
    "responses": (
        "/v1/responses",
        {"authorization": "Bearer k"},
        {"model": "gpt-4o", "input": "hi"},
    ),
    "gemini": (
        "/v1beta/models/gemini-2.5-flash:generateContent",
        {"x-goog-api-key": "k"},
        {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
    ),
    "vertex": (
        "/v1beta1/publishers/google/models/gemini-2.5-flash:generateContent",
        {"x-goog-api-key": "k"},
        {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
    ),
}


@pytest.mark.parametrize("dialect", sorted(SDK_FIELDS))
def test_every_field_the_sdk_can_send_is_accepted(dialect: str) -> None:
    assert SDK_FIELDS[dialect] >= {"model"} or dialect in ("gemini", "vertex")
    missing = SDK_FIELDS[dialect] - ACCEPTED_FIELDS[dialect]
    assert not missing, f"{dialect}: the SDK can send {sorted(missing)}; teach _fields.py"


@pytest.mark.parametrize("dialect", sorted(ROUTES))
async def test_each_sdk_field_passes_and_a_misspelt_one_is_a_400(dialect: str) -> None:
    path, headers, base = ROUTES[dialect]
    transport = httpx2.ASGITransport(app=create_app())
    async with httpx2.AsyncClient(transport=transport, base_url="http://emulator") as http:
        for name in sorted(SDK_FIELDS[dialect] - set(base)):
            response = await http.post(path, json=base | {name: None}, headers=headers)
            assert response.status_code == 200, (name, response.text)
        response = await http.post(path, json=base | {"max_tokns": 5}, headers=headers)
    assert response.status_code == 400
    assert "max_tokns" in response.text


async def test_the_sdks_surface_a_misspelt_field_as_bad_request(in_process: Emulated) -> None:
    with pytest.raises(anthropic.BadRequestError, match="temprature: Extra inputs"):
        await in_process.claude.messages.create(
            model="claude-sonnet-4-6",
            max_tokens=10,
            messages=[{"role": "user", "content": "hi"}],
            extra_body={"temprature": 0.5},
        )
    with pytest.raises(openai.BadRequestError) as raised:
        await in_process.gpt.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "hi"}], extra_body={"sed": 1}
        )
    assert raised.value.code == "unknown_parameter"
    assert raised.value.param == "sed"
    with pytest.raises(genai_errors.ClientError, match="Unknown name"):
        await in_process.gemini.models.generate_content(
            model="gemini-2.5-flash",
            contents="hi",
            config=genai_types.GenerateContentConfig(
                http_options=genai_types.HttpOptions(extra_body={"generation_confg": {}})
            ),
        )


async def test_gemini_quotes_a_non_ascii_tool_result_as_it_is(in_process: Emulated) -> None:
    contents = [
        genai_types.Content(role="user", parts=[genai_types.Part(text="weather in Beijing?")]),
        genai_types.Content(
            role="model",
            parts=[genai_types.Part.from_function_call(name="w", args={"city": "北京"})],
        ),
        genai_types.Content(
            role="user",
            parts=[genai_types.Part.from_function_response(name="w", response={"say": "你好"})],
        ),
    ]
    reply = await in_process.gemini.models.generate_content(
        model="gemini-2.5-flash", contents=contents
    )
    assert reply.text is not None
    assert "你好" in reply.text
    assert "\\u" not in reply.text


class Tree(BaseModel):
    value: int
    children: list[Tree]


@pytest.mark.parametrize("kind", ["claude", "openai", "gemini"])
async def test_a_recursive_response_model_works_through_the_router(kind: str) -> None:
    async with EmulatorServer(Scenario()) as srv:
        base_url = {
            "claude": srv.anthropic_base_url,
            "openai": srv.openai_base_url,
            "gemini": srv.gemini_base_url,
        }[kind]
        model = {"claude": "claude-sonnet-4-6", "openai": "gpt-4o", "gemini": "gemini-2.5-flash"}
        config = ProviderConfig.model_validate(
            {
                "name": kind,
                "apiKey": "sk-test-0123456789",
                "baseUrl": base_url,
                "maxRetries": 0,
                "rateLimits": {"requestsPerMinute": 1_000_000},
                "models": [model[kind]],
                "defaultModel": model[kind],
            }
        )
        async with Router({"primaryProvider": kind}, [config]) as router:
            request = {"messages": [{"role": "user", "content": "A small tree please"}]}
            response = await router.execute(request, response_model=Tree)
    tree = response.parsed
    assert isinstance(tree, Tree)
    assert Tree.model_validate(json.loads(response.content)) == tree
