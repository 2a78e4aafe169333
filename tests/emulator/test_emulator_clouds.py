"""Azure OpenAI and Gemini on Vertex AI (express mode) through their real SDK clients."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx2
import openai
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types as genai_types

from automatosx.emulator import EmulatorServer, Rule, Scenario, create_app

from .conftest import user

API_VERSION = "2024-10-21"


@pytest.fixture(params=["in_process", "loopback"])
async def origin(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Any, str]]:
    """(app, origin URL); in-process clients need an ASGI transport (see `http_for`)."""
    app = create_app(Scenario())
    if request.param == "in_process":
        yield app, "http://emulator.invalid"
        return
    async with EmulatorServer(app) as srv:
        yield None, srv.base_url


def http_for(app: Any) -> httpx2.AsyncClient | None:
    return httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app)) if app else None


def azure(app: Any, endpoint: str, key: str = "azure-key") -> openai.AsyncAzureOpenAI:
    return openai.AsyncAzureOpenAI(
        azure_endpoint=endpoint,
        api_version=API_VERSION,
        api_key=key,
        max_retries=0,
        http_client=http_for(app),
    )


def vertex(app: Any, base_url: str) -> genai.client.AsyncClient:
    options = genai_types.HttpOptions(base_url=base_url)
    http = http_for(app)
    if http is not None:
        options.httpx_async_client = http
    return genai.Client(vertexai=True, api_key="vertex-key", http_options=options).aio


async def test_azure_client_chats_with_a_deployment(origin: tuple[Any, str]) -> None:
    app, endpoint = origin
    client = azure(app, endpoint)
    reply = await client.chat.completions.create(
        model="my-gpt4o-deployment", messages=user("hello azure"), max_tokens=5
    )
    assert reply.model == "my-gpt4o-deployment"
    assert reply.choices[0].finish_reason == "length"
    assert reply.usage is not None
    assert reply.usage.completion_tokens == 5
    await client.close()


async def test_azure_client_streams(origin: tuple[Any, str]) -> None:
    app, endpoint = origin
    client = azure(app, endpoint)
    stream = await client.chat.completions.create(
        model="prod-chat",
        messages=user("stream please"),
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.startswith("Emulated reply from prod-chat to: stream please")
    assert chunks[-1].usage is not None
    await client.close()


async def test_azure_faults_and_keys_apply(in_process_app: Any) -> None:
    app = in_process_app
    app.state.scenario = Scenario([Rule(provider="openai", request=2, status=429)], api_keys=["ok"])
    with pytest.raises(openai.AuthenticationError) as auth:
        await azure(app, "http://emulator.invalid", key="wrong").chat.completions.create(
            model="d", messages=user("x")
        )
    assert auth.value.code == "401"
    good = azure(app, "http://emulator.invalid", key="ok")
    with pytest.raises(openai.RateLimitError):
        await good.chat.completions.create(model="d", messages=user("x"))
    assert (await good.chat.completions.create(model="d", messages=user("x"))).choices
    app.state.scenario.models = frozenset({"only-this-one"})
    with pytest.raises(openai.NotFoundError) as missing:
        await good.chat.completions.create(model="d", messages=user("x"))
    assert missing.value.code == "DeploymentNotFound"


async def test_azure_without_api_version_is_resource_not_found(in_process_app: Any) -> None:
    async with httpx2.AsyncClient(
        transport=httpx2.ASGITransport(app=in_process_app), base_url="http://emulator.invalid"
    ) as http:
        response = await http.post(
            "/openai/deployments/d/chat/completions",
            json={"messages": user("x")},
            headers={"api-key": "k"},
        )
    assert response.status_code == 404
    assert response.json()["error"]["message"] == "Resource not found"


async def test_vertex_express_generates_and_streams(origin: tuple[Any, str]) -> None:
    app, base_url = origin
    client = vertex(app, base_url)
    reply = await client.models.generate_content(
        model="gemini-2.5-flash",
        contents="hello vertex",
        config=genai_types.GenerateContentConfig(max_output_tokens=4, system_instruction="brief"),
    )
    assert reply.text is not None
    assert len(reply.text.split()) == 4
    assert reply.candidates is not None
    assert reply.candidates[0].finish_reason == genai_types.FinishReason.MAX_TOKENS
    stream = await client.models.generate_content_stream(
        model="gemini-2.5-flash", contents="stream vertex"
    )
    texts = [chunk.text async for chunk in stream]
    assert "".join(t or "" for t in texts).startswith("Emulated reply from gemini-2.5-flash")
    await client.aclose()


async def test_vertex_errors_are_google_errors(in_process_app: Any) -> None:
    in_process_app.state.scenario.add(Rule(provider="gemini", request=1, status=503))
    client = vertex(in_process_app, "http://emulator.invalid")
    with pytest.raises(genai_errors.ServerError) as caught:
        await client.models.generate_content(model="gemini-2.5-flash", contents="x")
    assert caught.value.status == "UNAVAILABLE"
    with pytest.raises(genai_errors.ClientError) as unknown:
        await client.models.generate_content(model="palm-2", contents="x")
    assert unknown.value.code == 404
    assert "Publisher Model `publishers/google/models/palm-2`" in str(unknown.value.message)
    await client.aclose()


async def test_vertex_project_scoped_path_takes_a_bearer_token(in_process_app: Any) -> None:
    async with httpx2.AsyncClient(
        transport=httpx2.ASGITransport(app=in_process_app), base_url="http://emulator.invalid"
    ) as http:
        path = (
            "/v1/projects/p/locations/us-central1/publishers/google/models/"
            "gemini-2.5-pro:generateContent"
        )
        body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
        ok = await http.post(path, json=body, headers={"authorization": "Bearer token"})
        missing = await http.post(path, json=body)
    assert ok.status_code == 200
    assert ok.json()["candidates"][0]["finishReason"] == "STOP"
    assert missing.status_code == 401
    assert missing.json()["error"]["status"] == "UNAUTHENTICATED"


@pytest.fixture
def in_process_app() -> Any:
    return create_app(Scenario())
