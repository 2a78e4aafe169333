"""The ``openai`` adapter over the official ``openai`` SDK (``AsyncOpenAI``, Chat Completions).

Messages keep their roles (``system`` included); ``max_tokens`` is sent as
``max_completion_tokens`` (``max_tokens`` is deprecated and refused by reasoning models);
streams ask for ``stream_options={"include_usage": True}`` so the last chunk carries usage.
A 429 whose code is ``insufficient_quota`` (billing, not pacing) is an AuthenticationError:
retrying it cannot help, another provider can. Requests with parts, tools, formats or
reasoning are mapped by :mod:`._rich_openai`; usage reports ``cached_tokens`` and
``reasoning_tokens`` when the reply has them.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx2
import openai

from automatosx._core import parse_duration
from automatosx.errors import AuthenticationError, ProviderConnectionError, ProviderError
from automatosx.providers._adapter import (
    MALFORMED_ERRORS,
    StainlessAdapter,
    make_response,
    token_count,
    token_usage,
    wire_str,
)
from automatosx.providers._errors import content_filter_error, provider_error, transport_error
from automatosx.providers._rich import knob_params
from automatosx.providers._rich_openai import ToolCallAssembler, rich_params, tool_calls_of
from automatosx.providers._sse import log_skipped_event, sse_events
from automatosx.providers.base import StreamEnd, StreamEvent
from automatosx.schemas import (
    FinishReason,
    ProviderConfig,
    ProviderRequest,
    ProviderResponse,
    TokenUsage,
)

__all__ = ["OpenAIProvider"]

FINISH_REASONS: dict[str | None, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "content_filter": "content_filter",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
}
_STREAM_OPTIONS = {"include_usage": True}


def _usage_details(tokens: TokenUsage, usage: dict[str, Any]) -> None:
    """Set cached prompt tokens and reasoning tokens when the reply's usage has them."""
    prompt = usage.get("prompt_tokens_details")
    if prompt and prompt.get("cached_tokens") is not None:
        tokens.cached_input_tokens = token_count(prompt["cached_tokens"])
    completion = usage.get("completion_tokens_details")
    if completion and completion.get("reasoning_tokens") is not None:
        tokens.reasoning_tokens = token_count(completion["reasoning_tokens"])


_AZURE_API_VERSION = "2024-10-21"  # the latest GA data-plane version when omitted


class OpenAIProvider(StainlessAdapter):
    """OpenAI through ``openai.AsyncOpenAI`` (Chat Completions); SDK retries off."""

    kind = "openai"
    sdk_errors = (openai.OpenAIError, httpx2.HTTPError, httpx2.StreamError, json.JSONDecodeError)
    rate_limit_headers = (
        "x-ratelimit-limit-requests",
        "x-ratelimit-remaining-requests",
        "x-ratelimit-reset-requests",
    )

    sdk_client = openai.AsyncOpenAI

    def make_client(self, config: ProviderConfig, http_client: httpx2.AsyncClient | None) -> Any:
        """``AsyncOpenAI`` (any OpenAI-compatible server by ``baseUrl``), or, with
        ``azureEndpoint``, ``AsyncAzureOpenAI`` (the model names the Azure deployment)."""
        if config.azure_endpoint is None:
            return super().make_client(config, http_client)
        return openai.AsyncAzureOpenAI(
            azure_endpoint=config.azure_endpoint,
            api_version=config.api_version or _AZURE_API_VERSION,
            api_key=self._api_key,
            timeout=self._timeout_s,
            max_retries=0,
            http_client=http_client,
        )

    def __init__(
        self, config: ProviderConfig, *, http_client: httpx2.AsyncClient | None = None
    ) -> None:
        super().__init__(config, http_client=http_client)
        # Called with keyword dicts built per request; the SDK's overloads cannot see them.
        self._create = self._client.chat.completions.with_raw_response.create
        # Streams skip the raw-response wrapper: the SDK's stream keeps the response.
        self._create_stream = self._client.chat.completions.create

    # -- requests --------------------------------------------------------------------------

    def _params(self, request: ProviderRequest) -> dict[str, Any]:
        messages: list[dict[str, Any]] = []
        for message in request.messages:
            if message.name is None:
                messages.append({"role": message.role, "content": message.content})
            else:
                messages.append(
                    {"role": message.role, "content": message.content, "name": message.name}
                )
        params: dict[str, Any] = {
            "model": self._model(request),
            "messages": messages,
            "temperature": request.temperature,
        }
        if request.max_tokens is not None:
            params["max_completion_tokens"] = request.max_tokens
        if request.top_p is not None:
            params["top_p"] = request.top_p
        if request.stop_sequences:
            params["stop"] = request.stop_sequences
        if request.is_rich:
            rich_params(request, params)
        if request.has_knobs:
            options = knob_params(request, self.kind, params, takes_knobs=True)
            if options:
                params["extra_body"] = {**params.get("extra_body", {}), **options}
        return params

    async def execute(self, request: ProviderRequest) -> ProviderResponse:
        started = time.perf_counter_ns()
        data = await self._post_json(self._params(request))
        try:
            choices = data["choices"]
            choice = choices[0] if choices else {}
            usage = data.get("usage") or {}
            message = choice.get("message") or {}
            content = message.get("content") or ""
            finish_reason = choice.get("finish_reason")
            if finish_reason == "content_filter" and not content:
                raise content_filter_error(self.name, finish_reason)
            response = make_response(
                request,
                self.name,
                data.get("model") or self._model(request),
                content,
                usage.get("prompt_tokens") or 0,
                usage.get("completion_tokens") or 0,
                usage.get("total_tokens"),
                FINISH_REASONS.get(finish_reason),
                started,
            )
            _usage_details(response.tokens, usage)
            if request.tools is not None:
                response.tool_calls = tool_calls_of(message) or []
            return response
        except MALFORMED_ERRORS as exc:
            failed: BaseException = exc
        raise self.failure(failed)

    async def stream(self, request: ProviderRequest) -> AsyncIterator[StreamEvent]:
        params = self._params(request)
        model: str | None = None
        finish_reason: str | None = None
        usage: Any = None
        assembler = ToolCallAssembler() if request.tools is not None else None
        skipped = 0
        done = received = has_text = False
        failed: BaseException | None = None
        try:
            # The SDK sends the request and raises HTTP errors; the body is read as raw events
            # (``_sse``): the SDK's chunk objects cost more than everything else we do.
            chunks = await self._create_stream(
                **params, stream=True, stream_options=_STREAM_OPTIONS
            )
            received = True
            self._note_headers(chunks.response.headers)
            try:
                async for _, data in sse_events(chunks.response):
                    if done:
                        continue  # read to the end: the connection goes back to the pool
                    if data.startswith("[DONE]"):
                        done = True
                        continue
                    try:
                        chunk = json.loads(data)
                        error = chunk.get("error")
                    except MALFORMED_ERRORS:  # not JSON, or not a JSON object: skipped
                        skipped += 1
                        log_skipped_event(self.name, data, self._api_key)
                        continue
                    if error:
                        raise self._stream_error(error)
                    choices = chunk.get("choices")
                    if choices:
                        choice = choices[0]
                        delta = choice.get("delta")
                        text = delta.get("content") if delta is not None else None
                        if text:
                            has_text = True
                            yield wire_str(text, "delta.content")
                        if assembler is not None and delta and delta.get("tool_calls"):
                            assembler.add(delta["tool_calls"])
                        if choice.get("finish_reason") is not None:
                            finish_reason = choice["finish_reason"]
                    elif choices is None and "usage" not in chunk:  # not a chunk: skipped
                        skipped += 1
                        log_skipped_event(self.name, data, self._api_key)
                        continue
                    if chunk.get("usage") is not None:
                        usage = chunk["usage"]
                    model = chunk.get("model") or model
            finally:
                await chunks.close()
        except self._failures as exc:
            failed = exc
        if failed is not None:
            raise self.failure(failed, received=received)
        # [DONE] ends a stream; without it (the SDK accepts a body without one) the usage chunk
        # asked for with include_usage, sent after the finish_reason chunk, must have come.
        if finish_reason is None or not (done or usage is not None):
            raise ProviderConnectionError(
                "stream ended without its terminating event ([DONE] after a finish_reason)",
                provider=self.name,
            )
        if finish_reason == "content_filter" and not has_text:
            raise content_filter_error(self.name, finish_reason)
        try:
            calls = assembler.finish() if assembler is not None else []
        except MALFORMED_ERRORS as exc:
            failed = exc
        if failed is not None:
            raise self.failure(failed)
        for call in calls:
            yield call
        try:
            if usage is None:
                tokens = token_usage(0, 0, 0)
            else:
                tokens = token_usage(
                    usage.get("prompt_tokens") or 0,
                    usage.get("completion_tokens") or 0,
                    usage.get("total_tokens"),
                )
                _usage_details(tokens, usage)
            end = StreamEnd(
                tokens,
                FINISH_REASONS.get(finish_reason),
                wire_str(model or self._model(request), "model"),
                tuple(calls) if calls else None,
                skipped,
            )
        except MALFORMED_ERRORS as exc:
            failed = exc
        if failed is not None:
            raise self.failure(failed)
        yield end

    def _stream_error(self, error: Any) -> ProviderError:
        """A ``data: {"error": {...}}`` event after the 200, classified by its code or type
        (as the SDK's ``APIError`` for it would be)."""
        if not isinstance(error, Mapping):
            error = {}
        code, kind = error.get("code"), error.get("type")
        kind = code if isinstance(code, str) and code else kind if isinstance(kind, str) else None
        message = error.get("message")
        if not isinstance(message, str) or not message:
            message = "An error occurred during streaming"
        elif kind:
            message = f"{message} ({kind})"
        return provider_error(message, provider=self.name, api_key=self._api_key, error_type=kind)

    # -- errors, health, closing -----------------------------------------------------------

    def map_error(self, exc: BaseException) -> ProviderError:
        """The one place OpenAI SDK (and transport) exceptions become ProviderErrors."""
        key = self._api_key
        if isinstance(exc, ProviderError):
            return exc
        if isinstance(exc, (openai.APITimeoutError, httpx2.TimeoutException)):
            return transport_error(exc, provider=self.name, api_key=key, timed_out=True)
        if isinstance(exc, openai.APIConnectionError):
            return transport_error(exc, provider=self.name, api_key=key, timed_out=False)
        if isinstance(exc, openai.APIStatusError):
            self._note_error_headers(exc)
            return provider_error(
                _message(exc),
                provider=self.name,
                api_key=key,
                status=exc.status_code,
                error_type=exc.code or exc.type,
                headers=exc.response.headers,
                cls=AuthenticationError if exc.code == "insufficient_quota" else None,
            )
        if isinstance(exc, openai.APIResponseValidationError):
            return provider_error(
                f"invalid response: {exc.message}", provider=self.name, api_key=key
            )
        if isinstance(exc, openai.APIError):
            # An error event inside a stream that began with HTTP 200.
            return provider_error(
                _message(exc), provider=self.name, api_key=key, error_type=exc.code or exc.type
            )
        if isinstance(exc, (httpx2.HTTPError, httpx2.StreamError)):
            return transport_error(exc, provider=self.name, api_key=key, timed_out=False)
        kind = "malformed response" if isinstance(exc, json.JSONDecodeError) else "SDK error"
        return provider_error(
            f"{kind}: {type(exc).__name__}: {exc}", provider=self.name, api_key=key
        )

    def _parse_reset(self, value: str, at_ms: int) -> int | None:
        ms: int | None = parse_duration(value)
        return None if ms is None else at_ms + ms


def _message(exc: openai.APIError) -> str:
    body = exc.body
    if isinstance(body, Mapping):
        message = body.get("message")
        if isinstance(message, str) and message:
            kind = exc.code or exc.type
            return f"{message} ({kind})" if kind else message
    return exc.message
