"""The ``claude`` adapter over the official ``anthropic`` SDK (``AsyncAnthropic``, Messages API).

System messages go to the top-level ``system`` parameter (joined with blank lines).
Anthropic requires ``max_tokens``: a request without one asks for :data:`DEFAULT_MAX_TOKENS`.
The anthropic 2.x SDK has no sampling parameters: ``temperature`` (only when not the default
1.0; capped at Anthropic's maximum of 1.0) and ``top_p`` (when set) travel in ``extra_body``.
Input tokens include cache reads and cache writes (also reported apart, as
``cachedInputTokens`` and ``cacheWriteTokens``). Requests with parts, tools, formats,
reasoning or prompt caching are mapped by :mod:`._rich_anthropic`; streams then also yield
each ``tool_use`` block as a :class:`~automatosx.schemas.ToolCall` when its block stops.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import anthropic
import httpx2

from automatosx.errors import ProviderConnectionError, ProviderError
from automatosx.providers._adapter import (
    MALFORMED_ERRORS,
    StainlessAdapter,
    make_response,
    token_count,
    token_usage,
    wire_str,
)
from automatosx.providers._errors import content_filter_error, provider_error, transport_error
from automatosx.providers._rich import knob_params, wire_tool_call
from automatosx.providers._rich_anthropic import rich_params, tool_calls_of
from automatosx.providers._sse import log_skipped_event, sse_events
from automatosx.providers.base import StreamEnd, StreamEvent
from automatosx.schemas import (
    FinishReason,
    ProviderConfig,
    ProviderRequest,
    ProviderResponse,
    TokenUsage,
    ToolCall,
)

__all__ = ["DEFAULT_MAX_TOKENS", "AnthropicProvider"]

DEFAULT_MAX_TOKENS = 4096
"""``max_tokens`` sent when the request has none: the output limit of the oldest Claude 3
models, so valid for every model."""

FINISH_REASONS: dict[str | None, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


def _cache_details(tokens: TokenUsage, usage: dict[str, Any]) -> None:
    """Set the cache reads and writes (already in ``input_tokens``) when the reply has them."""
    read = usage.get("cache_read_input_tokens")
    write = usage.get("cache_creation_input_tokens")
    if read is not None:
        tokens.cached_input_tokens = token_count(read)
    if write is not None:
        tokens.cache_write_tokens = token_count(write)


def _input_tokens(usage: dict[str, Any]) -> int:
    """Prompt tokens: uncached input plus cache writes and cache reads (each checked)."""
    return (
        token_count(usage["input_tokens"])
        + token_count(usage.get("cache_creation_input_tokens") or 0)
        + token_count(usage.get("cache_read_input_tokens") or 0)
    )


class AnthropicProvider(StainlessAdapter):
    """Claude through ``anthropic.AsyncAnthropic``; SDK retries off."""

    kind = "claude"
    sdk_errors = (
        anthropic.AnthropicError,
        httpx2.HTTPError,
        httpx2.StreamError,
        json.JSONDecodeError,
    )
    rate_limit_headers = (
        "anthropic-ratelimit-requests-limit",
        "anthropic-ratelimit-requests-remaining",
        "anthropic-ratelimit-requests-reset",
    )

    sdk_client = anthropic.AsyncAnthropic

    def __init__(
        self, config: ProviderConfig, *, http_client: httpx2.AsyncClient | None = None
    ) -> None:
        super().__init__(config, http_client=http_client)
        # Called with keyword dicts built per request; the SDK's overloads cannot see them.
        self._create = self._client.messages.with_raw_response.create
        # Streams skip the raw-response wrapper (~40 us): the SDK's stream keeps the response.
        self._create_stream = self._client.messages.create

    # -- requests --------------------------------------------------------------------------

    def _params(self, request: ProviderRequest) -> dict[str, Any]:
        rich = request.is_rich
        system: list[str] = []
        messages: list[dict[str, Any]] = []
        if not rich:
            for message in request.messages:
                if message.role == "system":
                    system.append(message.content)  # type: ignore[arg-type]  # text: not rich
                else:
                    messages.append({"role": message.role, "content": message.content})
        params: dict[str, Any] = {
            "model": self._model(request),
            "max_tokens": request.max_tokens or DEFAULT_MAX_TOKENS,
            "messages": messages,
        }
        if system:
            params["system"] = "\n\n".join(system)
        # anthropic 2.x has no sampling parameters; send them only when asked for.
        sampling: dict[str, float] = {}
        if request.temperature != 1.0:
            sampling["temperature"] = min(request.temperature, 1.0)
        if request.top_p is not None:
            sampling["top_p"] = request.top_p
        if sampling:
            params["extra_body"] = sampling
        if request.stop_sequences:
            params["stop_sequences"] = request.stop_sequences
        if rich:
            rich_params(request, params)
        if request.has_knobs:
            options = knob_params(request, self.kind, params, takes_knobs=False)
            if options:
                params["extra_body"] = {**params.get("extra_body", {}), **options}
        return params

    async def execute(self, request: ProviderRequest) -> ProviderResponse:
        started = time.perf_counter_ns()
        data = await self._post_json(self._params(request))
        try:
            usage = data["usage"]
            text = "".join(b["text"] for b in data["content"] if b.get("type") == "text")
            stop_reason = data.get("stop_reason")
            if stop_reason == "refusal" and not text:
                raise content_filter_error(self.name, stop_reason)
            response = make_response(
                request,
                self.name,
                data.get("model") or self._model(request),
                text,
                _input_tokens(usage),
                usage["output_tokens"],
                None,
                FINISH_REASONS.get(stop_reason),
                started,
            )
            _cache_details(response.tokens, usage)
            if request.tools is not None:
                response.tool_calls = tool_calls_of(data["content"]) or []
            return response
        except MALFORMED_ERRORS as exc:
            failed: BaseException = exc
        raise self.failure(failed)

    async def stream(self, request: ProviderRequest) -> AsyncIterator[StreamEvent]:
        params = self._params(request)
        model: str | None = None
        input_tokens = output_tokens = skipped = 0
        stop_reason: str | None = None
        finished = received = has_text = False
        failed: BaseException | None = None
        cache_usage: dict[str, Any] = {}
        # Tool-use blocks under way, by content-block index: [id, name, JSON fragments].
        pending: dict[int, list[Any]] = {}
        calls: list[ToolCall] = []
        tools = request.tools is not None
        try:
            # The SDK sends the request and raises HTTP errors; the body is read as raw events
            # (``_sse``): the SDK's event objects cost more than everything else we do.
            events = await self._create_stream(**params, stream=True)
            received = True
            self._note_headers(events.response.headers)
            try:
                async for name, data in sse_events(events.response):
                    if name == "error":
                        raise self._stream_error(data)
                    if name == "ping" or not name or not data:  # as the SDK skips them
                        continue
                    try:
                        event = json.loads(data)
                        kind = event["type"]
                    except MALFORMED_ERRORS:  # not JSON, or not an Anthropic event: skipped
                        skipped += 1
                        log_skipped_event(self.name, data, self._api_key)
                        continue
                    if kind == "content_block_delta":
                        delta = event["delta"]
                        if delta["type"] == "text_delta":
                            text = delta["text"]
                            if text:
                                has_text = True
                                yield wire_str(text, "delta.text")
                        elif delta["type"] == "input_json_delta" and event["index"] in pending:
                            pending[event["index"]][2].append(delta["partial_json"])
                    elif kind == "content_block_start" and tools:
                        block = event["content_block"]
                        if block.get("type") == "tool_use":
                            pending[event["index"]] = [block["id"], block["name"], []]
                    elif kind == "content_block_stop" and event.get("index") in pending:
                        call_id, name, parts = pending.pop(event["index"])
                        call = wire_tool_call(call_id, name, "".join(parts))
                        calls.append(call)
                        yield call
                    elif kind == "message_start":
                        message = event["message"]
                        model = message.get("model")
                        usage = message["usage"]
                        input_tokens = _input_tokens(usage)
                        output_tokens = token_count(usage.get("output_tokens") or 0)
                        cache_usage = usage
                    elif kind == "message_delta":
                        stop_reason = event["delta"].get("stop_reason")
                        delta_usage = event["usage"]
                        # Cumulative counts; one left out keeps the value message_start gave.
                        if delta_usage.get("output_tokens") is not None:
                            output_tokens = delta_usage["output_tokens"]
                        if delta_usage.get("input_tokens") is not None:
                            input_tokens = _input_tokens(delta_usage)
                            cache_usage = delta_usage
                    elif kind == "message_stop":
                        finished = True
            finally:
                await events.close()
        except self._failures as exc:
            failed = exc
        if failed is not None:
            raise self.failure(failed, received=received)
        if not finished:
            raise ProviderConnectionError(
                "stream ended without its terminating event (message_stop)", provider=self.name
            )
        if stop_reason == "refusal" and not has_text:
            raise content_filter_error(self.name, stop_reason)
        try:
            tokens = token_usage(input_tokens, output_tokens)
            _cache_details(tokens, cache_usage)
            end = StreamEnd(
                tokens,
                FINISH_REASONS.get(stop_reason),
                wire_str(model or self._model(request), "model"),
                tuple(calls) if calls else None,
                skipped,
            )
        except MALFORMED_ERRORS as exc:
            failed = exc
        if failed is not None:
            raise self.failure(failed)
        yield end

    def _stream_error(self, data: str) -> ProviderError:
        """An ``event: error`` after the 200 (``{"type": "error", "error": {"type": ...,
        "message": ...}}``): classified by its error type, as the SDK's error would be."""
        try:
            body = json.loads(data)
            error = body.get("error") if isinstance(body, dict) else None
        except ValueError:
            body, error = data, None
        error = error if isinstance(error, dict) else {}
        kind = error.get("type") if isinstance(error.get("type"), str) else None
        message = error.get("message")
        if not isinstance(message, str) or not message:
            message = str(body) or "error event in the stream"
        return provider_error(
            f"{message} ({kind})" if kind else message,
            provider=self.name,
            api_key=self._api_key,
            error_type=kind,
        )

    # -- errors, health, closing -----------------------------------------------------------

    def map_error(self, exc: BaseException) -> ProviderError:
        """The one place Anthropic SDK (and transport) exceptions become ProviderErrors."""
        key = self._api_key
        if isinstance(exc, ProviderError):
            return exc
        if isinstance(exc, anthropic.APIStatusError):
            self._note_error_headers(exc)
            message = exc.api_message or exc.message
            return provider_error(
                f"{message} ({exc.type})" if exc.type else message,
                provider=self.name,
                api_key=key,
                status=exc.status_code,
                error_type=exc.type,
                headers=exc.response.headers,
            )
        if isinstance(exc, (anthropic.APITimeoutError, httpx2.TimeoutException)):
            return transport_error(exc, provider=self.name, api_key=key, timed_out=True)
        if isinstance(exc, (anthropic.APIConnectionError, httpx2.HTTPError, httpx2.StreamError)):
            return transport_error(exc, provider=self.name, api_key=key, timed_out=False)
        if isinstance(exc, anthropic.APIResponseValidationError):
            return provider_error(
                f"invalid response: {exc.message}",
                provider=self.name,
                api_key=key,
                status=exc.status_code if exc.status_code >= 500 else None,
            )
        kind = "malformed response" if isinstance(exc, json.JSONDecodeError) else "SDK error"
        return provider_error(
            f"{kind}: {type(exc).__name__}: {exc}", provider=self.name, api_key=key
        )
