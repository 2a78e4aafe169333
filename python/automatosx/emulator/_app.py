"""The emulator's ASGI app: routes, the per-request flow, and how faults become responses.

Routes (all three providers share one origin):

    POST /v1/messages                                    Anthropic
    POST /v1/chat/completions                            OpenAI
    POST /v1/responses                                   OpenAI Responses API
    POST /{v1,v1beta}/models/{model}:generateContent     Gemini
    POST /{v1,v1beta}/models/{model}:streamGenerateContent?alt=sse
    GET  /{v1,v1beta}/models[/{model}]                   whichever provider the headers name:
         x-goog-api-key or ?key= -> Gemini, anthropic-version / x-api-key -> Anthropic,
         otherwise OpenAI

In replay mode any other method and path is served from the recordings too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from automatosx.emulator._anthropic import AnthropicWire
from automatosx.emulator._features import compose, dialect_of, enrich, prefix_cache
from automatosx.emulator._gemini import GeminiWire, split_target
from automatosx.emulator._openai import OpenAIWire
from automatosx.emulator._quota import RateWindow
from automatosx.emulator._reply import Prompt
from automatosx.emulator._responses import Part, ScriptedResponse
from automatosx.emulator._responses_api import ResponsesWire
from automatosx.emulator._scenario import Fault, Scenario
from automatosx.emulator._wire import (
    DEFAULT_MODELS,
    MODEL_PREFIXES,
    Wire,
    WireError,
    dumps,
    is_known_model,
    new_id,
    retry_after_value,
)

__all__ = ["create_app", "create_replay_app"]

WIRES: dict[str, Wire] = {"claude": AnthropicWire(), "openai": OpenAIWire(), "gemini": GeminiWire()}
_RESPONSES_WIRE = ResponsesWire()
_GEMINI_VERSIONS = ("v1", "v1beta")
_GEMINI_ACTIONS = ("generateContent", "streamGenerateContent")
_NUMBER_HEADER = "x-emulator-request-number"


def create_app(scenario: Scenario | None = None) -> Starlette:
    """The emulator as an ASGI app; `app.state.scenario` may be changed or replaced any time.

    In-process use (no sockets), e.g. with the anthropic SDK:

        app = create_app(Scenario([Rule(provider="claude", first=1, status=529)]))
        http = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app))
        client = anthropic.AsyncAnthropic(api_key="test", base_url="http://emulator",
                                          http_client=http, max_retries=0)

    The in-process transport buffers whole responses: latency and chunks still happen, but
    the client sees the body only once it is complete.
    """
    app = Starlette(
        routes=[
            Route("/v1/messages", _anthropic_messages, methods=["POST"]),
            Route("/v1/chat/completions", _openai_chat, methods=["POST"]),
            Route("/v1/responses", _openai_responses, methods=["POST"]),
            Route("/{version}/models", _list_models, methods=["GET"]),
            Route("/{version}/models/{target}", _get_model, methods=["GET"]),
            Route("/{version}/models/{target}", _gemini_generate, methods=["POST"]),
            Route("/{rest:path}", _replay_only, methods=["GET", "POST", "PUT", "DELETE"]),
        ]
    )
    app.state.scenario = scenario if scenario is not None else Scenario()
    app.state.quota = RateWindow()
    return app


def create_replay_app(paths: str | Path | Iterable[str | Path]) -> Starlette:
    """An app serving the responses recorded in a cassette, or in each of several, in order
    (see `Scenario.replay`)."""
    if isinstance(paths, (str, Path)):
        return create_app(Scenario.replay(paths))
    return create_app(Scenario.replay(*paths))


def _scenario(request: Request) -> Scenario:
    scenario: Scenario = request.app.state.scenario
    return scenario


async def _anthropic_messages(request: Request) -> Response:
    return await _generate(request, WIRES["claude"])


async def _openai_chat(request: Request) -> Response:
    return await _generate(request, WIRES["openai"])


async def _openai_responses(request: Request) -> Response:
    return await _generate(request, _RESPONSES_WIRE)


async def _gemini_generate(request: Request) -> Response:
    _, action = split_target(request.path_params["target"])
    if request.path_params["version"] not in _GEMINI_VERSIONS or action not in _GEMINI_ACTIONS:
        return await _replay_only(request)
    return await _generate(request, WIRES["gemini"])


def _provider_of(request: Request) -> str:
    headers, path = request.headers, request.url.path
    if "x-goog-api-key" in headers or "key" in request.query_params or "/v1beta/" in path:
        return "gemini"
    if path.startswith("/v1/messages") or "anthropic-version" in headers or "x-api-key" in headers:
        return "claude"
    if ":" in path.rpartition("/")[2]:
        return "gemini"
    return "openai"


def _error_response(
    wire: Wire, error: WireError, base_headers: dict[str, str], fault: Fault
) -> Response:
    retry_after = fault.retry_after
    headers = dict(base_headers)
    if wire.provider == "gemini":
        if fault.retry_after_ms is not None:
            retry_after = fault.retry_after_ms / 1000
    else:
        if fault.retry_after is not None:
            headers["retry-after"] = retry_after_value(fault.retry_after)
        if fault.retry_after_ms is not None:
            headers["retry-after-ms"] = str(fault.retry_after_ms)
    headers |= fault.headers
    headers["content-type"] = "application/json"
    body = dumps(wire.error_body(error, retry_after))
    return Response(body, status_code=error.status, headers=headers)


def _check_key(wire: Wire, request: Request, scenario: Scenario) -> None:
    key = wire.api_key(request)
    if not key:
        raise wire.missing_key_error()
    if scenario.api_keys is not None and key not in scenario.api_keys:
        raise wire.invalid_key_error()


async def _generate(request: Request, wire: Wire) -> Response:
    scenario = _scenario(request)
    number, fault = scenario.next_request(wire.provider)
    # Read the body first, as a server does: a client that gives up during the scripted
    # latency then leaves quietly instead of as an ASGI ClientDisconnect traceback.
    body = await request.body()
    if fault.latency:
        await asyncio.sleep(fault.latency)
    headers = {_NUMBER_HEADER: str(number)}
    try:
        _check_key(wire, request, scenario)
        cuts_stream = fault.stream_error_after is not None or fault.drop_after is not None
        if fault.status is not None and not cuts_stream:
            raise WireError(fault.status, fault.message, fault.error)
        if scenario.recordings:
            return _replayed(request, scenario, fault, headers)
        prompt = enrich(dialect_of(wire), wire.parse(body, request), prefix_cache(request.app))
        if not is_known_model(wire.provider, prompt.model, scenario.models):
            raise wire.unknown_model_error(prompt.model, request)
        if fault.stream_error_after is not None and not prompt.stream:
            status = fault.status or wire.default_stream_error_status()
            raise WireError(status, fault.message, fault.error)
    except WireError as error:
        quota = request.app.state.quota.record(wire.provider, 0)
        return _error_response(wire, error, wire.headers(new_id("req_emu"), quota) | headers, fault)
    quota = request.app.state.quota.record(wire.provider, prompt.input_tokens)
    headers = wire.headers(new_id("req_emu"), quota) | headers | dict(fault.headers)
    return _success(wire, prompt, fault, headers)


def _success(wire: Wire, prompt: Prompt, fault: Fault, headers: dict[str, str]) -> Response:
    reply = compose(dialect_of(wire), prompt)
    if not prompt.stream:
        body = dumps(wire.reply_json(prompt, reply))
        headers["content-type"] = "application/json"
        if fault.drop_after is None:
            return Response(body, headers=headers)
        return ScriptedResponse(
            200, headers, [Part(body[: len(body) // 2])], drop=True, content_length=len(body)
        )
    stream = wire.reply_stream(prompt, reply)
    gap = fault.chunk_latency or 0.0
    parts = [Part(event) for event in stream.preamble]
    cut = fault.stream_error_after if fault.stream_error_after is not None else fault.drop_after
    chunks = stream.chunks if cut is None else stream.chunks[:cut]
    parts += [Part(chunk, gap if i else 0.0) for i, chunk in enumerate(chunks)]
    headers["content-type"] = wire.stream_content_type()
    headers["cache-control"] = "no-cache"
    if fault.stream_error_after is not None:
        status = fault.status or wire.default_stream_error_status()
        parts.append(Part(wire.stream_error_event(status, fault.error, fault.message), gap))
    elif fault.drop_after is None:
        parts += [Part(event, gap if i == 0 else 0.0) for i, event in enumerate(stream.epilogue)]
    return ScriptedResponse(200, headers, parts, drop=fault.drop_after is not None)


def _replayed(
    request: Request, scenario: Scenario, fault: Fault, headers: dict[str, str]
) -> Response:
    recording = scenario.take_recording(request.method, request.url.path)
    if recording is None:
        message = (
            f"emulator replay: no recorded response left for {request.method} {request.url.path}"
        )
        return Response(
            dumps({"error": {"message": message}}),
            status_code=501,
            headers={"content-type": "application/json"},
        )
    headers = recording.headers | headers | dict(fault.headers)
    if fault.drop_after is not None:
        part = Part(recording.body[: len(recording.body) // 2])
        return ScriptedResponse(recording.status, headers, [part], drop=True)
    return Response(recording.body, status_code=recording.status, headers=headers)


async def _replay_only(request: Request) -> Response:
    scenario = _scenario(request)
    if not scenario.recordings:
        return Response("Not Found", status_code=404)
    number, fault = scenario.next_request(_provider_of(request))
    if fault.latency:
        await asyncio.sleep(fault.latency)
    return _replayed(request, scenario, fault, {_NUMBER_HEADER: str(number)})


def _models_for(provider: str, scenario: Scenario) -> list[str]:
    if scenario.models is None:
        return list(DEFAULT_MODELS[provider])
    return sorted(m for m in scenario.models if m.startswith(MODEL_PREFIXES[provider]))


async def _list_models(request: Request) -> Response:
    return _model_listing(request, target=None)


async def _get_model(request: Request) -> Response:
    return _model_listing(request, target=request.path_params["target"])


def _model_listing(request: Request, target: str | None) -> Response:
    provider = _provider_of(request)
    wire, scenario = WIRES[provider], _scenario(request)
    version = request.path_params["version"]
    if version != "v1" and not (provider == "gemini" and version in _GEMINI_VERSIONS):
        return Response("Not Found", status_code=404)
    headers = wire.headers(new_id("req_emu"), None)
    try:
        _check_key(wire, request, scenario)
        if target is None:
            return Response(
                dumps(wire.models_json(_models_for(provider, scenario))),
                headers=headers | {"content-type": "application/json"},
            )
        model = target.removeprefix("models/")
        if not is_known_model(provider, model, scenario.models):
            raise WireError(404, f"model: {model}" if provider == "claude" else None)
        return Response(
            dumps(wire.model_json(model)), headers=headers | {"content-type": "application/json"}
        )
    except WireError as error:
        return _error_response(wire, error, headers, Fault())
