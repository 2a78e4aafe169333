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
    POST /openai/deployments/{deployment}/chat/completions   Azure OpenAI (see _cloud)
    POST /{v1,v1beta1}/[projects/{p}/locations/{l}/]publishers/google/models/{model}:...
                                                         Gemini on Vertex AI (see _cloud)

Every generation body is validated like the service validates it (`_validate`) before it is
answered. In replay mode any other method and path is served from the recordings too;
otherwise it gets a 404 in the error shape of the provider the path and headers suggest.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from automatosx.emulator._anthropic import AnthropicWire
from automatosx.emulator._cloud import VERTEX_VERSIONS, AzureWire, VertexWire
from automatosx.emulator._fault_bodies import (
    blocked_prompt_reply,
    context_length_error,
    filtered_event,
    filtered_json,
    malformed_event,
    prompt_blocked_error,
)
from automatosx.emulator._features import compose, dialect_of, enrich, prompt_cache
from automatosx.emulator._gemini import GeminiWire, split_target
from automatosx.emulator._openai import OpenAIWire
from automatosx.emulator._prompt_cache import PromptCache
from automatosx.emulator._quota import RateWindow
from automatosx.emulator._reply import Prompt, Reply
from automatosx.emulator._responses import Part, ScriptedResponse, until_disconnect
from automatosx.emulator._responses_api import ResponsesWire
from automatosx.emulator._scenario import Fault, Scenario
from automatosx.emulator._schema_instance import SchemaError
from automatosx.emulator._validate import validate_body
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
AZURE: Wire = AzureWire()
VERTEX: Wire = VertexWire()
_RESPONSES_WIRE = ResponsesWire()
_GEMINI_VERSIONS = ("v1", "v1beta")
_GEMINI_ACTIONS = ("generateContent", "streamGenerateContent")
_NUMBER_HEADER = "x-emulator-request-number"
_ANY_METHOD = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def create_app(
    scenario: Scenario | None = None, *, prompt_cache: PromptCache | None = None
) -> Starlette:
    """The emulator as an ASGI app; `app.state.scenario` may be changed or replaced any time.

    In-process use (no sockets), e.g. with the anthropic SDK:

        app = create_app(Scenario([Rule(provider="claude", first=1, status=529)]))
        http = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app))
        client = anthropic.AsyncAnthropic(api_key="test", base_url="http://emulator",
                                          http_client=http, max_retries=0)

    The in-process transport buffers whole responses: latency and chunks still happen, but
    the client sees the body only once it is complete.

    `prompt_cache` sets the prompt caches' TTL and clock (`PromptCache(ttl_s=..., clock=...)`);
    `app.state.prompt_cache.stats(api_key=...)` counts cached input tokens per deployment.
    """
    app = Starlette(
        routes=[
            Route("/v1/messages", _anthropic_messages, methods=["POST"]),
            Route("/v1/chat/completions", _openai_chat, methods=["POST"]),
            Route("/v1/responses", _openai_responses, methods=["POST"]),
            Route("/{version}/models", _list_models, methods=["GET"]),
            Route("/{version}/models/{target}", _get_model, methods=["GET"]),
            Route("/{version}/models/{target}", _gemini_generate, methods=["POST"]),
            Route(
                "/openai/deployments/{deployment}/chat/completions", _azure_chat, methods=["POST"]
            ),
            Route("/{version}/publishers/google/models/{target}", _vertex, methods=["POST"]),
            Route(
                "/{version}/projects/{project}/locations/{location}/publishers/google/models/"
                "{target}",
                _vertex,
                methods=["POST"],
            ),
            Route("/{rest:path}", _replay_only, methods=_ANY_METHOD),
        ],
        exception_handlers={HTTPException: _http_exception},
    )
    app.state.scenario = scenario if scenario is not None else Scenario()
    app.state.quota = RateWindow()
    app.state.prompt_cache = prompt_cache if prompt_cache is not None else PromptCache()
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


async def _azure_chat(request: Request) -> Response:
    return await _generate(request, AZURE)


async def _vertex(request: Request) -> Response:
    _, action = split_target(request.path_params["target"])
    if request.path_params["version"] not in VERTEX_VERSIONS or action not in _GEMINI_ACTIONS:
        return await _replay_only(request)
    return await _generate(request, VERTEX)


def _provider_of(request: Request) -> str:
    headers, path = request.headers, request.url.path
    if path.startswith("/openai/"):
        return "openai"
    gemini_paths = ("/v1beta/", "/v1beta1/", "/publishers/")
    if "x-goog-api-key" in headers or "key" in request.query_params:
        return "gemini"
    if any(part in path for part in gemini_paths):
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
    data = wire.error_body(error, retry_after)
    if "request_id" in data and "request-id" in headers:
        data["request_id"] = headers["request-id"]  # Anthropic: the body names the header's id
    return Response(dumps(data), status_code=error.status, headers=headers)


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
    if fault.silence:
        await until_disconnect(request.receive)
        return Response(status_code=204)  # nobody is left to read it
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
        dialect: str = getattr(wire, "dialect", wire.provider)
        validate_body(dialect, body)
        deployment = (wire.api_key(request) or "", request.headers.get("host", ""))
        prompt = wire.parse(body, request)
        prompt = enrich(dialect_of(wire), prompt, prompt_cache(request.app), deployment)
        if not is_known_model(dialect, prompt.model, scenario.models):
            raise wire.unknown_model_error(prompt.model, request)
        if fault.refusal == "context_length":
            raise context_length_error(wire.provider, prompt)
        if fault.refusal == "prompt_blocked" and wire.provider == "openai":
            raise prompt_blocked_error()
        if fault.stream_error_after is not None and not prompt.stream:
            status = fault.status or wire.default_stream_error_status()
            raise WireError(status, fault.message, fault.error)
        reply = _reply(wire, prompt, fault)
    except WireError as error:
        quota = request.app.state.quota.record(wire.provider, 0)
        return _error_response(wire, error, wire.headers(new_id("req_emu"), quota) | headers, fault)
    quota = request.app.state.quota.record(wire.provider, prompt.input_tokens)
    headers = wire.headers(new_id("req_emu"), quota) | headers | dict(fault.headers)
    if fault.late_first_token_ms and not prompt.stream:
        await asyncio.sleep(fault.late_first_token_ms / 1000)
    return _success(wire, prompt, fault, headers, reply)


def _reply(wire: Wire, prompt: Prompt, fault: Fault) -> Reply:
    """What the emulated model answers; a schema it cannot answer is the caller's 400."""
    if fault.refusal == "prompt_blocked":
        return Reply((), truncated=False)
    try:
        return compose(dialect_of(wire), prompt)
    except SchemaError as error:
        raise WireError(400, f"Invalid schema: {error}") from None


def _stop_after(fault: Fault) -> int | None:
    """After how many text chunks a fault ends the reply early (None: it does not)."""
    for after in (fault.stream_error_after, fault.drop_after, fault.stall_after, fault.cut_after):
        if after is not None:
            return after
    return None


def _success(
    wire: Wire, prompt: Prompt, fault: Fault, headers: dict[str, str], reply: Reply
) -> Response:
    provider = wire.provider
    filtered = fault.refusal in ("content_filter", "prompt_blocked")
    if fault.refusal == "prompt_blocked" and provider == "gemini":
        return _blocked_prompt(wire, prompt, headers)
    drop, hang = fault.drop_after is not None, fault.stall_after is not None
    if not prompt.stream:
        data = wire.reply_json(prompt, reply)
        body = dumps(filtered_json(provider, data) if filtered else data)
        headers["content-type"] = "application/json"
        if _stop_after(fault) is None:
            return Response(body, headers=headers)
        return ScriptedResponse(
            200,
            headers,
            [Part(body[: len(body) // 2])],
            drop=drop,
            hang=hang and not drop,
            content_length=len(body) if drop or hang else None,
        )
    stream = wire.reply_stream(prompt, reply)
    gap = fault.chunk_latency or 0.0
    stop = _stop_after(fault)
    events = stream.chunks if stop is None else stream.chunks[:stop]
    if fault.malformed_event is not None:
        at = min(1 if fault.malformed_after is None else fault.malformed_after, len(events))
        events = [*events[:at], malformed_event(provider, fault.malformed_event), *events[at:]]
    tail = [Part(event, gap if i else 0.0) for i, event in enumerate(events)]
    if fault.stream_error_after is not None:
        status = fault.status or wire.default_stream_error_status()
        tail.append(Part(wire.stream_error_event(status, fault.error, fault.message), gap))
    elif stop is None:
        tail += [Part(event, gap if i == 0 else 0.0) for i, event in enumerate(stream.epilogue)]
    if filtered:
        tail = [Part(filtered_event(provider, part.data), part.delay) for part in tail]
    if tail and fault.late_first_token_ms:
        tail[0] = Part(tail[0].data, tail[0].delay + fault.late_first_token_ms / 1000)
    headers["content-type"] = wire.stream_content_type()
    headers["cache-control"] = "no-cache"
    parts = [Part(event) for event in stream.preamble] + tail
    cuts = fault.stream_error_after is None
    return ScriptedResponse(
        200, headers, parts, drop=drop and cuts, hang=hang and cuts and not drop
    )


def _blocked_prompt(wire: Wire, prompt: Prompt, headers: dict[str, str]) -> Response:
    """Gemini's 200 for a prompt blocked for safety, as JSON or as a one-event stream."""
    body = dumps(blocked_prompt_reply(prompt))
    if not prompt.stream:
        return Response(body, headers=headers | {"content-type": "application/json"})
    headers["content-type"] = wire.stream_content_type()
    return Response(b"data: " + body + b"\r\n\r\n", headers=headers)


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


def _not_found(request: Request) -> Response:
    """A 404 in the error shape of the provider the path and headers point to."""
    provider = _provider_of(request)
    wire = WIRES[provider]
    if provider == "openai":
        error = WireError(404, f"Invalid URL ({request.method} {request.url.path})")
    elif provider == "claude":
        error = WireError(404, "Not Found")
    else:
        error = WireError(404, f"Method not found: {request.method} {request.url.path}")
    return _error_response(wire, error, wire.headers(new_id("req_emu"), None), Fault())


async def _http_exception(request: Request, exc: Exception) -> Response:
    """Starlette's own 404 / 405 answers, as JSON in the provider's shape."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    if status == 404:
        return _not_found(request)
    wire = WIRES[_provider_of(request)]
    error = WireError(status, f"{request.method} is not allowed on {request.url.path}")
    return _error_response(wire, error, wire.headers(new_id("req_emu"), None), Fault())


async def _replay_only(request: Request) -> Response:
    scenario = _scenario(request)
    if not scenario.recordings:
        return _not_found(request)
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
        return _not_found(request)
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
