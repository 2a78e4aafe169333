"""Anthropic's Messages API: `POST /v1/messages` (JSON and `event:` SSE), `GET /v1/models`."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from starlette.requests import Request

from automatosx.emulator._render import anthropic_json, anthropic_stream, is_rich
from automatosx.emulator._reply import Prompt, Reply
from automatosx.emulator._wire import Quota, StreamBody, WireError, dumps, new_id

__all__ = ["AnthropicWire"]

_ERROR_TYPES = {
    400: ("invalid_request_error", "Invalid request."),
    401: ("authentication_error", "invalid x-api-key"),
    402: ("billing_error", "Your credit balance is too low to access the Anthropic API."),
    403: (
        "permission_error",
        "Your API key does not have permission to use the specified resource.",
    ),
    404: ("not_found_error", "Not found."),
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
    429: ("rate_limit_error", "Number of requests has exceeded your per-minute rate limit."),
    500: ("api_error", "Internal server error"),
    503: ("api_error", "Service unavailable"),
    504: ("timeout_error", "Request timeout"),
    529: ("overloaded_error", "Overloaded"),
}


def _sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: ".encode() + dumps(data) + b"\n\n"


def _rfc3339(epoch: float) -> str:
    moment = datetime.fromtimestamp(int(epoch), tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            block.get("text", "") if isinstance(block, dict) and "text" in block else ""
            for block in content
        ).strip()
    return ""


def _chars_of(content: Any) -> int:
    if isinstance(content, str):
        return len(content)
    return len(_text_of(content)) or len(json.dumps(content))


class AnthropicWire:
    provider = "claude"

    def api_key(self, request: Request) -> str | None:
        key = request.headers.get("x-api-key", "").strip()
        if key:
            return key
        # anthropic>=2 sends its api_key as a bearer token.
        auth = request.headers.get("authorization", "")
        token = auth[len("Bearer ") :].strip() if auth.startswith("Bearer ") else ""
        return token or None

    def missing_key_error(self) -> WireError:
        return WireError(401, "x-api-key header is required")

    def invalid_key_error(self) -> WireError:
        return WireError(401, "invalid x-api-key")

    def parse(self, body: bytes, request: Request) -> Prompt:
        if not request.headers.get("anthropic-version"):
            raise WireError(400, "anthropic-version: header is required")
        try:
            data = json.loads(body)
        except ValueError:
            raise WireError(400, "There was an error parsing the body of your request") from None
        if not isinstance(data, dict):
            raise WireError(400, "Input should be a valid dictionary")
        for name in ("model", "max_tokens", "messages"):
            if name not in data:
                raise WireError(400, f"{name}: Field required")
        messages = data["messages"]
        if not isinstance(messages, list) or not messages:
            raise WireError(400, "messages: at least one message is required")
        max_tokens = data["max_tokens"]
        if not isinstance(max_tokens, int) or max_tokens < 1:
            raise WireError(400, "max_tokens: Input should be greater than or equal to 1")
        users = [m for m in messages if isinstance(m, dict) and m.get("role") == "user"]
        chars = _chars_of(data.get("system", "")) + sum(
            _chars_of(m.get("content", "")) for m in messages if isinstance(m, dict)
        )
        return Prompt(
            model=str(data["model"]),
            last_user_text=_text_of(users[-1].get("content", "")) if users else "",
            prompt_chars=chars,
            max_tokens=max_tokens,
            stream=bool(data.get("stream", False)),
            body=data,
        )

    def unknown_model_error(self, model: str, request: Request) -> WireError:
        return WireError(404, f"model: {model}")

    def reply_json(self, prompt: Prompt, reply: Reply) -> dict[str, Any]:
        message = {
            "id": new_id("msg_emu"),
            "type": "message",
            "role": "assistant",
            "model": prompt.model,
            "content": [{"type": "text", "text": reply.text}],
            "stop_reason": "max_tokens" if reply.truncated else "end_turn",
            "stop_sequence": None,
            "usage": self._usage(prompt.input_tokens, reply.output_tokens),
        }
        return anthropic_json(prompt, reply, message)

    def _usage(self, input_tokens: int, output_tokens: int) -> dict[str, Any]:
        return {
            "input_tokens": input_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": output_tokens,
            "service_tier": "standard",
        }

    def reply_stream(self, prompt: Prompt, reply: Reply) -> StreamBody:
        if is_rich(prompt, reply):  # thinking, tool use, cache usage
            return anthropic_stream(prompt, reply, self.reply_json(prompt, reply))
        message = self.reply_json(prompt, reply) | {
            "content": [],
            "stop_reason": None,
            "usage": self._usage(prompt.input_tokens, 1),
        }
        preamble = [
            _sse("message_start", {"type": "message_start", "message": message}),
            _sse(
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": 0,
                    "content_block": {"type": "text", "text": ""},
                },
            ),
            _sse("ping", {"type": "ping"}),
        ]
        chunks = [
            _sse(
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "text_delta", "text": text},
                },
            )
            for text in reply.chunks()
        ]
        stop_reason = "max_tokens" if reply.truncated else "end_turn"
        epilogue = [
            _sse("content_block_stop", {"type": "content_block_stop", "index": 0}),
            _sse(
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                    "usage": {
                        "input_tokens": prompt.input_tokens,
                        "output_tokens": reply.output_tokens,
                    },
                },
            ),
            _sse("message_stop", {"type": "message_stop"}),
        ]
        return StreamBody(preamble, chunks, epilogue)

    def _error(self, status: int, error: str | None, message: str | None) -> dict[str, Any]:
        default_type, default_message = _ERROR_TYPES.get(status, ("api_error", "Internal error"))
        return {"type": error or default_type, "message": message or default_message}

    def error_body(self, error: WireError, retry_after: float | None) -> dict[str, Any]:
        return {
            "type": "error",
            "error": self._error(error.status, error.error, error.message),
            "request_id": new_id("req_emu"),
        }

    def stream_error_event(self, status: int, error: str | None, message: str | None) -> bytes:
        return _sse("error", {"type": "error", "error": self._error(status, error, message)})

    def default_stream_error_status(self) -> int:
        return 529

    def headers(self, request_id: str, quota: Quota | None) -> dict[str, str]:
        headers = {"request-id": request_id, "anthropic-organization-id": "emulator"}
        if quota is not None:
            reset = _rfc3339(quota.reset_at)
            for kind, limit, remaining in (
                ("requests", quota.requests_limit, quota.requests_remaining),
                ("tokens", quota.tokens_limit, quota.tokens_remaining),
                ("input-tokens", quota.tokens_limit, quota.tokens_remaining),
                ("output-tokens", quota.tokens_limit // 5, quota.tokens_limit // 5),
            ):
                headers[f"anthropic-ratelimit-{kind}-limit"] = str(limit)
                headers[f"anthropic-ratelimit-{kind}-remaining"] = str(remaining)
                headers[f"anthropic-ratelimit-{kind}-reset"] = reset
        return headers

    def stream_content_type(self) -> str:
        return "text/event-stream; charset=utf-8"

    def model_json(self, model: str) -> dict[str, Any]:
        return {
            "type": "model",
            "id": model,
            "display_name": model.replace("-", " ").title(),
            "created_at": "2025-09-29T00:00:00Z",
        }

    def models_json(self, models: list[str]) -> dict[str, Any]:
        return {
            "data": [self.model_json(m) for m in models],
            "has_more": False,
            "first_id": models[0] if models else None,
            "last_id": models[-1] if models else None,
        }
