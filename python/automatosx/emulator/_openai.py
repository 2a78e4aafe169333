"""OpenAI's Chat Completions API: `POST /v1/chat/completions` (JSON and `data:` SSE) and
`GET /v1/models`."""

from __future__ import annotations

import json
import time
from typing import Any

from starlette.requests import Request

from automatosx.emulator._render import openai_json, openai_stream_chunks, openai_usage
from automatosx.emulator._reply import Prompt, Reply
from automatosx.emulator._wire import Quota, StreamBody, WireError, dumps, new_id

__all__ = ["OpenAIWire", "go_duration"]

_NO_KEY = (
    "You didn't provide an API key. You need to provide your API key in an Authorization header "
    "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with "
    "blank username) if you're accessing the API from your browser and are prompted for a "
    "username and password. You can obtain an API key from "
    "https://platform.openai.com/account/api-keys."
)
_QUOTA = (
    "You exceeded your current quota, please check your plan and billing details. For more "
    "information on this error, read the docs: "
    "https://platform.openai.com/docs/guides/error-codes/api-errors."
)
_RATE = (
    "Rate limit reached for requests in organization org-emulator on requests per min (RPM): "
    "Limit 500, Used 500, Requested 1. Please try again in 1s. Visit "
    "https://platform.openai.com/account/rate-limits to learn more."
)
_SERVER = "The server had an error while processing your request. Sorry about that!"

# status -> (type, code, message)
_ERRORS: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "Invalid request."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    403: (
        "invalid_request_error",
        "unsupported_country_region_territory",
        "Country, region, or territory not supported",
    ),
    404: ("invalid_request_error", None, "Not found."),
    429: ("requests", "rate_limit_exceeded", _RATE),
    500: ("server_error", None, _SERVER),
    502: ("server_error", None, "Bad gateway."),
    503: ("server_error", None, "The engine is currently overloaded, please try again later"),
}


def go_duration(seconds: float) -> str:
    """Format like Go's time.Duration, as OpenAI's reset headers do: 6ms, 1s, 1.5s, 6m0s."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(int(minutes), 60)
    sec_text = f"{secs:.3f}".rstrip("0").rstrip(".") + "s"
    if hours:
        return f"{hours}h{minutes}m{sec_text}"
    if minutes:
        return f"{minutes}m{sec_text}"
    return sec_text


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(part.get("text", "") for part in content if isinstance(part, dict)).strip()
    return ""


def _sse(data: dict[str, Any]) -> bytes:
    return b"data: " + dumps(data) + b"\n\n"


class OpenAIWire:
    provider = "openai"

    def api_key(self, request: Request) -> str | None:
        auth = request.headers.get("authorization", "")
        token = auth[len("Bearer ") :].strip() if auth.startswith("Bearer ") else ""
        return token or None

    def missing_key_error(self) -> WireError:
        return WireError(401, _NO_KEY, error="")

    def invalid_key_error(self) -> WireError:
        return WireError(
            401,
            "Incorrect API key provided. You can find your API key at "
            "https://platform.openai.com/account/api-keys.",
            error="invalid_api_key",
        )

    def parse(self, body: bytes, request: Request) -> Prompt:
        try:
            data = json.loads(body)
        except ValueError:
            raise WireError(400, "We could not parse the JSON body of your request.") from None
        if not isinstance(data, dict):
            raise WireError(400, "We could not parse the JSON body of your request.")
        if "model" not in data:
            raise WireError(400, "you must provide a model parameter")
        messages = data.get("messages")
        if messages is None:
            raise WireError(
                400,
                "Missing required parameter: 'messages'.",
                error="missing_required_parameter",
                param="messages",
            )
        if not isinstance(messages, list) or not messages:
            raise WireError(
                400,
                "Invalid 'messages': empty array. Expected an array with minimum "
                "length 1, but got an empty array instead.",
                error="empty_array",
                param="messages",
            )
        users = [m for m in messages if isinstance(m, dict) and m.get("role") == "user"]
        chars = sum(len(_text_of(m.get("content"))) for m in messages if isinstance(m, dict))
        max_tokens = data.get("max_completion_tokens", data.get("max_tokens"))
        return Prompt(
            model=str(data["model"]),
            last_user_text=_text_of(users[-1].get("content")) if users else "",
            prompt_chars=chars,
            max_tokens=max_tokens if isinstance(max_tokens, int) else None,
            stream=bool(data.get("stream", False)),
            body=data,
        )

    def unknown_model_error(self, model: str, request: Request) -> WireError:
        return WireError(
            404,
            f"The model `{model}` does not exist or you do not have access to it.",
            error="model_not_found",
        )

    def _usage(self, prompt: Prompt, reply: Reply) -> dict[str, Any]:
        return openai_usage(prompt, reply)

    def reply_json(self, prompt: Prompt, reply: Reply) -> dict[str, Any]:
        completion = {
            "id": new_id("chatcmpl-emu"),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": prompt.model,
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": reply.text,
                        "refusal": None,
                        "annotations": [],
                    },
                    "logprobs": None,
                    "finish_reason": "length" if reply.truncated else "stop",
                }
            ],
            "usage": self._usage(prompt, reply),
            "service_tier": "default",
            "system_fingerprint": "fp_emulator",
        }
        return openai_json(reply, completion)

    def reply_stream(self, prompt: Prompt, reply: Reply) -> StreamBody:
        options = prompt.body.get("stream_options")
        include_usage = isinstance(options, dict) and bool(options.get("include_usage"))
        base = {
            "id": new_id("chatcmpl-emu"),
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": prompt.model,
            "service_tier": "default",
            "system_fingerprint": "fp_emulator",
        }

        def chunk(delta: dict[str, Any], finish: str | None) -> bytes:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
            extra = {"usage": None} if include_usage else {}
            return _sse(base | {"choices": [choice]} | extra)

        if reply.tool_calls:
            first, deltas, finish = openai_stream_chunks(reply)
            body = StreamBody([chunk(first, None)], [chunk(d, None) for d in deltas])
            body.epilogue.append(chunk({}, finish))
        else:
            body = StreamBody(
                preamble=[chunk({"role": "assistant", "content": "", "refusal": None}, None)],
                chunks=[chunk({"content": text}, None) for text in reply.chunks()],
                epilogue=[chunk({}, "length" if reply.truncated else "stop")],
            )
        if include_usage:
            body.epilogue.append(_sse(base | {"choices": [], "usage": self._usage(prompt, reply)}))
        body.epilogue.append(b"data: [DONE]\n\n")
        return body

    def _error(
        self, status: int, error: str | None, message: str | None, param: str | None = None
    ) -> dict[str, Any]:
        # `error` is the code; "" means an explicit null code.
        kind, code, default_message = _ERRORS.get(status, ("server_error", None, _SERVER))
        if error is not None:
            code = error or None
            if code == "insufficient_quota":
                kind, default_message = "insufficient_quota", _QUOTA
            elif code == "rate_limit_exceeded":
                kind = "requests"
            elif status < 500 and status != 429:
                kind = "invalid_request_error"
        return {"message": message or default_message, "type": kind, "param": param, "code": code}

    def error_body(self, error: WireError, retry_after: float | None) -> dict[str, Any]:
        return {"error": self._error(error.status, error.error, error.message, error.param)}

    def stream_error_event(self, status: int, error: str | None, message: str | None) -> bytes:
        return _sse({"error": self._error(status, error, message)})

    def default_stream_error_status(self) -> int:
        return 500

    def headers(self, request_id: str, quota: Quota | None) -> dict[str, str]:
        headers = {
            "x-request-id": request_id,
            "openai-organization": "org-emulator",
            "openai-processing-ms": "1",
            "openai-version": "2020-10-01",
        }
        if quota is not None:
            headers |= {
                "x-ratelimit-limit-requests": str(quota.requests_limit),
                "x-ratelimit-remaining-requests": str(quota.requests_remaining),
                "x-ratelimit-reset-requests": go_duration(quota.reset_in),
                "x-ratelimit-limit-tokens": str(quota.tokens_limit),
                "x-ratelimit-remaining-tokens": str(quota.tokens_remaining),
                "x-ratelimit-reset-tokens": go_duration(quota.reset_in),
            }
        return headers

    def stream_content_type(self) -> str:
        return "text/event-stream; charset=utf-8"

    def model_json(self, model: str) -> dict[str, Any]:
        return {"id": model, "object": "model", "created": 1715367049, "owned_by": "system"}

    def models_json(self, models: list[str]) -> dict[str, Any]:
        return {"object": "list", "data": [self.model_json(m) for m in models]}
