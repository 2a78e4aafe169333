"""The ``gemini`` adapter over the official ``google-genai`` SDK (``genai.Client(...).aio``).

System messages become ``system_instruction``; ``assistant`` turns are sent with role
``model``. The client always runs on an httpx2 ``AsyncClient`` (the injected one, or one the
adapter owns), so google-genai never switches to aiohttp and has no retry options (it then
makes one attempt). Output tokens include thinking tokens (``thoughtsTokenCount``), so
input + output = total; thought parts are not part of the content. Requests with parts,
tools, formats or reasoning are mapped by :mod:`._rich_gemini`; usage reports
``cachedContentTokenCount`` and ``thoughtsTokenCount`` apart when the reply has them.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from typing import Any, cast

import httpx2
import pydantic
from google import genai
from google.genai import errors as genai_errors
from google.genai import types as genai_types

from automatosx.errors import AuthenticationError, ProviderConnectionError, ProviderError
from automatosx.providers._adapter import (
    MALFORMED_ERRORS,
    SdkAdapter,
    make_response,
    token_count,
    token_usage,
    wire_str,
)
from automatosx.providers._errors import (
    content_filter_error,
    provider_error,
    seconds_from_duration,
    transport_error,
)
from automatosx.providers._rich import knob_params
from automatosx.providers._rich_gemini import gemini_config_options as config_options
from automatosx.providers._rich_gemini import rich_params, sdk_tool_calls, tool_calls_of
from automatosx.providers.base import StreamEnd, StreamEvent
from automatosx.schemas import (
    FinishReason,
    ProviderConfig,
    ProviderRequest,
    ProviderResponse,
    TokenUsage,
    ToolCall,
)

__all__ = ["GeminiProvider"]

FINISH_REASONS: dict[str | None, FinishReason] = {
    "STOP": "stop",  # also when the reply is a function call
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
    "IMAGE_PROHIBITED_CONTENT": "content_filter",
    "IMAGE_RECITATION": "content_filter",
    "MALFORMED_FUNCTION_CALL": "tool_calls",
    "UNEXPECTED_TOOL_CALL": "tool_calls",
}
_ROLES = {"user": "user", "assistant": "model"}
log = logging.getLogger("automatosx")
_NO_AFC: dict[str, bool] = {"disable": True}  # never mutated: the SDK parses it into its own model


def _finish_reason(candidate: Any, response: Any) -> FinishReason | None:
    if candidate is None:
        feedback = response.prompt_feedback
        return "content_filter" if feedback is not None and feedback.block_reason else None
    reason = candidate.finish_reason
    if reason is None:
        return None
    return FINISH_REASONS.get(getattr(reason, "value", reason))


def _text(candidate: Any) -> str:
    content = candidate.content if candidate is not None else None
    if content is None or not content.parts:
        return ""
    return "".join(part.text for part in content.parts if part.text and not part.thought)


def _usage(metadata: Any) -> tuple[int, int, int | None]:
    if metadata is None:
        return 0, 0, None
    input_tokens = token_count(metadata.prompt_token_count or 0) + token_count(
        metadata.tool_use_prompt_token_count or 0
    )
    output_tokens = token_count(metadata.candidates_token_count or 0) + token_count(
        metadata.thoughts_token_count or 0
    )
    return input_tokens, output_tokens, metadata.total_token_count or None


def _json_usage(metadata: Any) -> tuple[int, int, int | None]:
    """:func:`_usage` of the reply's JSON ``usageMetadata``."""
    if metadata is None:
        return 0, 0, None
    get = metadata.get
    input_tokens = token_count(get("promptTokenCount") or 0) + token_count(
        get("toolUsePromptTokenCount") or 0
    )
    output_tokens = token_count(get("candidatesTokenCount") or 0) + token_count(
        get("thoughtsTokenCount") or 0
    )
    return input_tokens, output_tokens, get("totalTokenCount") or None


def _details(tokens: TokenUsage, cached: Any, thoughts: Any) -> None:
    """Set cached prompt tokens and thinking tokens (already counted) when reported."""
    if cached is not None:
        tokens.cached_input_tokens = token_count(cached)
    if thoughts is not None:
        tokens.reasoning_tokens = token_count(thoughts)


def _json_text(candidate: Any) -> str:
    """:func:`_text` of a JSON candidate."""
    content = candidate.get("content") if candidate is not None else None
    parts = content.get("parts") if content is not None else None
    if not parts:
        return ""
    return "".join(
        wire_str(part["text"], "parts.text")
        for part in parts
        if part.get("text") and not part.get("thought")
    )


def _empty(chunk: Any) -> bool:
    """A chunk with no usage, feedback or model (its candidates are checked by the caller)."""
    return (
        chunk.usage_metadata is None and chunk.prompt_feedback is None and not chunk.model_version
    )


def _enum_name(value: Any) -> str | None:
    """The name of a google-genai enum value (or the raw string it kept)."""
    if value is None:
        return None
    name = getattr(value, "value", value)
    return name if isinstance(name, str) else str(name)


def _json_block_reason(candidate: Any, data: Mapping[str, Any]) -> str | None:
    """Why a JSON reply was blocked: the candidate's finishReason or the prompt's
    blockReason."""
    if candidate is not None:
        reason = candidate.get("finishReason")
    else:
        reason = (data.get("promptFeedback") or {}).get("blockReason")
    return reason if isinstance(reason, str) else None


def _json_finish_reason(candidate: Any, data: Mapping[str, Any]) -> FinishReason | None:
    """:func:`_finish_reason` of a JSON reply."""
    if candidate is None:
        feedback = data.get("promptFeedback")
        return "content_filter" if feedback is not None and feedback.get("blockReason") else None
    return FINISH_REASONS.get(candidate.get("finishReason"))


class GeminiProvider(SdkAdapter):
    """Gemini through ``google.genai.Client(...).aio``; no SDK retries."""

    kind = "gemini"
    sdk_errors = (
        genai_errors.APIError,
        genai_errors.UnknownApiResponseError,
        httpx2.HTTPError,
        httpx2.StreamError,
        json.JSONDecodeError,
        pydantic.ValidationError,  # a 200 whose fields have the wrong types
    )
    # Gemini sends no rate-limit headers today; an OpenAI-style gateway in front might.
    rate_limit_headers = (
        "x-ratelimit-limit-requests",
        "x-ratelimit-remaining-requests",
        "x-ratelimit-reset-requests",
    )

    def __init__(
        self, config: ProviderConfig, *, http_client: httpx2.AsyncClient | None = None
    ) -> None:
        super().__init__(config, http_client=http_client)
        self._http = http_client if http_client is not None else httpx2.AsyncClient()
        http_options = genai_types.HttpOptions(
            timeout=config.timeout, httpx_async_client=self._http, base_url=config.base_url
        )
        # Vertex AI in API-key mode (``vertex: true``): express mode, or with a project and
        # location when the config names them.
        self._client = genai.Client(
            vertexai=config.vertex,
            api_key=self._api_key,
            project=config.project if config.vertex else None,
            location=config.location if config.vertex else None,
            http_options=http_options,
        )
        self._models = self._client.aio.models

    # -- requests --------------------------------------------------------------------------

    def _params(self, request: ProviderRequest) -> dict[str, Any]:
        rich = request.is_rich
        system: list[str] = []
        contents: list[dict[str, Any]] = []
        for message in () if rich else request.messages:
            if message.role == "system":
                system.append(message.content)  # type: ignore[arg-type]  # text: not rich
            else:
                contents.append(
                    {"role": _ROLES[message.role], "parts": [{"text": message.content}]}
                )
        config: dict[str, Any] = {
            "temperature": request.temperature,
            # No tools are ever sent: skip the SDK's function-calling loop (a deep copy of the
            # config and more per call, ~0.1 ms).
            "automatic_function_calling": _NO_AFC,
        }
        if system:
            config["system_instruction"] = "\n\n".join(system)
        if request.max_tokens is not None:
            config["max_output_tokens"] = request.max_tokens
        if request.top_p is not None:
            config["top_p"] = request.top_p
        if request.stop_sequences:
            config["stop_sequences"] = request.stop_sequences
        params = {"model": self._model(request), "contents": contents, "config": config}
        if rich:
            rich_params(request, params)
        if request.has_knobs:
            options = knob_params(request, self.kind, config, takes_knobs=True)
            if options:
                config.update(config_options(options))
        return params

    async def execute(self, request: ProviderRequest) -> ProviderResponse:
        started = time.perf_counter_ns()
        params = self._params(request)
        # The SDK's public raw-reply switch: it sends the request and raises HTTP errors, and
        # hands back the body instead of validating it into its response model (~0.2 ms).
        params["config"]["should_return_http_response"] = True
        failed: BaseException | None = None
        try:
            raw = (await self._models.generate_content(**params)).sdk_http_response
            if raw is not None and raw.headers:
                self._note_headers(raw.headers)
            data = json.loads(raw.body) if raw is not None and raw.body else {}
        except self.sdk_errors as exc:
            failed = exc
        if failed is not None:
            raise self.failure(failed)
        try:
            candidates = data.get("candidates")
            candidate = candidates[0] if candidates else None
            metadata = data.get("usageMetadata")
            input_tokens, output_tokens, total = _json_usage(metadata)
            text = _json_text(candidate)
            calls = tool_calls_of(candidate) if request.tools is not None else None
            finish = _json_finish_reason(candidate, data)
            if finish == "content_filter" and not text and not calls:
                raise content_filter_error(self.name, _json_block_reason(candidate, data))
            response = make_response(
                request,
                self.name,
                data.get("modelVersion") or self._model(request),
                text,
                input_tokens,
                output_tokens,
                total,
                "tool_calls" if calls and finish == "stop" else finish,
                started,
            )
            if metadata:
                get = metadata.get
                _details(response.tokens, get("cachedContentTokenCount"), get("thoughtsTokenCount"))
            response.tool_calls = calls or []
            return response
        except MALFORMED_ERRORS as exc:
            failed = exc
        raise self.failure(failed)

    async def stream(self, request: ProviderRequest) -> AsyncIterator[StreamEvent]:
        params = self._params(request)
        model: str | None = None
        finish_reason: FinishReason | None = None
        reason: str | None = None  # the provider's own finish or block reason
        finished = has_text = False
        skipped = 0
        usage_metadata: Any = None
        tools = request.tools is not None
        calls: list[ToolCall] = []
        failed: BaseException | None = None
        # google-genai sends the request on the first iteration; a timeout after a first chunk
        # came is one after response bytes arrived.
        first = True
        try:
            chunks = cast(
                AsyncGenerator[Any, None], await self._models.generate_content_stream(**params)
            )
            try:
                async for chunk in chunks:
                    if first:
                        self._note_sdk_headers(chunk)
                        first = False
                    candidate = chunk.candidates[0] if chunk.candidates else None
                    text = _text(candidate)
                    if text:
                        has_text = True
                        yield text
                    if tools:
                        for call in sdk_tool_calls(candidate):
                            calls.append(call)
                            yield call
                    if chunk.usage_metadata is not None:
                        usage_metadata = chunk.usage_metadata  # cumulative: the last one wins
                    model = chunk.model_version or model
                    if candidate is not None and candidate.finish_reason is not None:
                        finish_reason = _finish_reason(candidate, chunk)
                        reason = _enum_name(candidate.finish_reason)
                        finished = True
                    elif candidate is None and _finish_reason(None, chunk) is not None:
                        finish_reason = "content_filter"  # the prompt was blocked
                        reason = _enum_name(chunk.prompt_feedback.block_reason)
                        finished = True
                    elif candidate is None and _empty(chunk):
                        skipped += 1  # JSON with none of a chunk's fields (the SDK ignores it)
                        log.warning("%s: skipped a stream chunk with no content", self.name)
            finally:
                await chunks.aclose()
        except self._failures as exc:
            failed = exc
        if failed is not None:
            raise self.failure(failed, received=not first)
        if not finished:
            raise ProviderConnectionError(
                "stream ended without its terminating event (a candidate finishReason)",
                provider=self.name,
            )
        if finish_reason == "content_filter" and not has_text:
            raise content_filter_error(self.name, reason)
        try:
            tokens = token_usage(*_usage(usage_metadata))
            if usage_metadata is not None:
                _details(
                    tokens,
                    usage_metadata.cached_content_token_count,
                    usage_metadata.thoughts_token_count,
                )
            end = StreamEnd(
                tokens,
                "tool_calls" if calls and finish_reason == "stop" else finish_reason,
                wire_str(model or self._model(request), "model"),
                tuple(calls) if calls else None,
                skipped,
            )
        except MALFORMED_ERRORS as exc:
            failed = exc
        if failed is not None:
            raise self.failure(failed)
        yield end

    def _note_sdk_headers(self, response: Any) -> None:
        http_response = response.sdk_http_response
        if http_response is not None and http_response.headers:
            self._note_headers(http_response.headers)

    # -- errors, health, closing -----------------------------------------------------------

    def map_error(self, exc: BaseException) -> ProviderError:
        """The one place google-genai (and transport) exceptions become ProviderErrors."""
        key = self._api_key
        if isinstance(exc, ProviderError):
            return exc
        if isinstance(exc, genai_errors.APIError):
            headers = _headers(exc.response)
            if headers is not None:
                self._note_headers(headers)
            error = _error_body(exc.details)
            message = exc.message or str(exc)
            return provider_error(
                f"{message} ({exc.status})" if exc.status else message,
                provider=self.name,
                api_key=key,
                status=exc.code if isinstance(exc.code, int) else None,
                error_type=exc.status,
                headers=headers,
                retry_after=_retry_delay(error),
                cls=AuthenticationError if _bad_api_key(error) else None,
            )
        if isinstance(exc, httpx2.TimeoutException):
            return transport_error(exc, provider=self.name, api_key=key, timed_out=True)
        if isinstance(exc, (httpx2.HTTPError, httpx2.StreamError)):
            return transport_error(exc, provider=self.name, api_key=key, timed_out=False)
        return provider_error(
            f"malformed response: {type(exc).__name__}: {exc}", provider=self.name, api_key=key
        )

    def _sending_client(self) -> httpx2.AsyncClient:
        return self._http

    async def _ping(self) -> None:
        await self._models.get(model=self._default_model)

    async def _close(self) -> None:
        self._client.close()  # the SDK's own sync client: no I/O
        if self._owns_http_client:
            await self._http.aclose()


def _headers(response: Any) -> Mapping[str, str] | None:
    headers = getattr(response, "headers", None)
    return headers if isinstance(headers, Mapping) else None


def _error_body(details: Any) -> Mapping[str, Any]:
    if isinstance(details, Mapping):
        error = details.get("error", details)
        if isinstance(error, Mapping):
            return error
    return {}


def _detail_items(error: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    items = error.get("details")
    if not isinstance(items, list):
        return []
    return [item for item in items if isinstance(item, Mapping)]


def _retry_delay(error: Mapping[str, Any]) -> float | None:
    """Seconds from a ``google.rpc.RetryInfo`` detail (``"retryDelay": "37s"``)."""
    for item in _detail_items(error):
        if str(item.get("@type", "")).endswith("google.rpc.RetryInfo"):
            return seconds_from_duration(item.get("retryDelay"))
    return None


def _bad_api_key(error: Mapping[str, Any]) -> bool:
    """Gemini answers an invalid API key with 400 INVALID_ARGUMENT, reason API_KEY_INVALID."""
    return any(item.get("reason") == "API_KEY_INVALID" for item in _detail_items(error))
