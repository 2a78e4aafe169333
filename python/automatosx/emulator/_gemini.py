"""Gemini's API: `POST /{v1,v1beta}/models/{model}:generateContent` and
`:streamGenerateContent?alt=sse`, `GET /{v1,v1beta}/models[/{model}]`."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from automatosx.emulator._render import gemini_json, gemini_stream, is_rich
from automatosx.emulator._reply import Prompt, Reply
from automatosx.emulator._validate_gemini import camel_keys
from automatosx.emulator._wire import Quota, StreamBody, WireError, dumps, new_id

__all__ = ["GeminiWire", "google_duration", "split_target"]

_RPC = "type.googleapis.com/google.rpc."
_QUOTA_METRIC = "generativelanguage.googleapis.com/generate_content_requests"
_STATUS = {
    400: ("INVALID_ARGUMENT", "Request contains an invalid argument."),
    401: (
        "UNAUTHENTICATED",
        "Request had invalid authentication credentials. Expected OAuth 2 "
        "access token, login cookie or other valid authentication credential.",
    ),
    403: ("PERMISSION_DENIED", "The caller does not have permission"),
    404: ("NOT_FOUND", "Requested entity was not found."),
    429: (
        "RESOURCE_EXHAUSTED",
        "You exceeded your current quota, please check your plan and "
        "billing details. For more information on this error, head to: "
        "https://ai.google.dev/gemini-api/docs/rate-limits.",
    ),
    500: (
        "INTERNAL",
        "An internal error has occurred. Please retry or report in "
        "https://developers.generativeai.google/guide/troubleshooting",
    ),
    503: ("UNAVAILABLE", "The model is overloaded. Please try again later."),
    504: ("DEADLINE_EXCEEDED", "Deadline expired before operation could complete."),
}
_NO_KEY = (
    "Method doesn't allow unregistered callers (callers without established identity). "
    "Please use API Key or other form of API consumer identity to call this API."
)


def google_duration(seconds: float) -> str:
    """A google.protobuf.Duration in JSON form: "2s", "0.200s"."""
    if float(seconds).is_integer():
        return f"{int(seconds)}s"
    return f"{seconds:.3f}s"


def split_target(target: str) -> tuple[str, str]:
    """ "gemini-2.5-flash:generateContent" -> ("gemini-2.5-flash", "generateContent")."""
    model, _, action = target.rpartition(":")
    return (model, action) if model else (target, "")


def _turns(contents: Any) -> list[tuple[str, str, int]]:
    """(role, text, size in characters) of each content; size counts non-text parts too."""
    if isinstance(contents, str):
        return [("user", contents, len(contents))]
    if not isinstance(contents, list):
        return []
    out = []
    for content in contents:
        if not isinstance(content, dict):
            continue
        parts = content.get("parts") or []
        text = "\n".join(p["text"] for p in parts if isinstance(p, dict) and "text" in p)
        size = len(text) if text else len(json.dumps(parts))
        out.append((str(content.get("role", "user")), text, size))
    return out


class GeminiWire:
    provider = "gemini"

    def api_key(self, request: Request) -> str | None:
        key = request.headers.get("x-goog-api-key", "").strip()
        return key or request.query_params.get("key", "").strip() or None

    def missing_key_error(self) -> WireError:
        return WireError(403, _NO_KEY)

    def invalid_key_error(self) -> WireError:
        return WireError(
            400, "API key not valid. Please pass a valid API key.", error="API_KEY_INVALID"
        )

    def parse(self, body: bytes, request: Request) -> Prompt:
        model, action = split_target(request.path_params["target"])
        try:
            data = json.loads(body)
        except ValueError:
            raise WireError(400, "Invalid JSON payload received.") from None
        if not isinstance(data, dict):
            raise WireError(
                400,
                'Invalid JSON payload received. Unknown name "": Root element must be a message.',
            )
        data = camel_keys(data)  # proto JSON: snake_case names are accepted too
        turns = _turns(data.get("contents"))
        if not turns:
            raise WireError(400, "* GenerateContentRequest.contents: contents is not specified\n")
        system = _turns([data["systemInstruction"]]) if "systemInstruction" in data else []
        config = data.get("generationConfig") or {}
        max_tokens = config.get("maxOutputTokens") if isinstance(config, dict) else None
        users = [text for role, text, _ in turns if role == "user"]
        return Prompt(
            model=model.removeprefix("models/"),
            last_user_text=users[-1] if users else "",
            prompt_chars=sum(size for _, _, size in turns + system),
            max_tokens=max_tokens if isinstance(max_tokens, int) else None,
            stream=action == "streamGenerateContent",
            body=data,
        )

    def unknown_model_error(self, model: str, request: Request) -> WireError:
        version = request.path_params.get("version", "v1beta")
        return WireError(
            404,
            f"models/{model} is not found for API version {version}, or is not supported for "
            "generateContent. Call ModelService.ListModels to see the list of available models "
            "and their supported methods.",
        )

    def _usage(self, prompt: Prompt, output_tokens: int) -> dict[str, Any]:
        return {
            "promptTokenCount": prompt.input_tokens,
            "candidatesTokenCount": output_tokens,
            "totalTokenCount": prompt.input_tokens + output_tokens,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt.input_tokens}],
        }

    def _response(
        self, prompt: Prompt, text: str, finish: str | None, output_tokens: int, response_id: str
    ) -> dict[str, Any]:
        candidate: dict[str, Any] = {"content": {"parts": [{"text": text}], "role": "model"}}
        if finish is not None:
            candidate["finishReason"] = finish
        candidate["index"] = 0
        return {
            "candidates": [candidate],
            "usageMetadata": self._usage(prompt, output_tokens),
            "modelVersion": prompt.model,
            "responseId": response_id,
        }

    def reply_json(self, prompt: Prompt, reply: Reply) -> dict[str, Any]:
        finish = "MAX_TOKENS" if reply.truncated else "STOP"
        body = self._response(prompt, reply.text, finish, reply.output_tokens, new_id("emu"))
        return gemini_json(prompt, reply, body)

    def reply_stream(self, prompt: Prompt, reply: Reply) -> StreamBody:
        if is_rich(prompt, reply) or prompt.image_tokens:  # calls, thoughts, cache, images
            return gemini_stream(prompt, reply, new_id("emu"))
        response_id = new_id("emu")
        texts = reply.chunks()
        chunks, sent = [], 0
        for i, text in enumerate(texts):
            sent += len(text.split())
            last = i == len(texts) - 1
            finish = ("MAX_TOKENS" if reply.truncated else "STOP") if last else None
            data = self._response(prompt, text, finish, sent, response_id)
            chunks.append(b"data: " + dumps(data) + b"\r\n\r\n")
        return StreamBody(chunks=chunks)

    def _error(self, error: WireError, retry_after: float | None) -> dict[str, Any]:
        status_name, default_message = _STATUS.get(error.status, ("UNKNOWN", "Unknown error."))
        body: dict[str, Any] = {
            "code": error.status,
            "message": error.message or default_message,
            "status": status_name,
        }
        details: list[dict[str, Any]] = []
        if error.error == "API_KEY_INVALID":
            details.append(
                {
                    "@type": _RPC + "ErrorInfo",
                    "reason": "API_KEY_INVALID",
                    "domain": "googleapis.com",
                    "metadata": {"service": "generativelanguage.googleapis.com"},
                }
            )
        if error.status == 429:
            details.append(
                {
                    "@type": _RPC + "QuotaFailure",
                    "violations": [
                        {
                            "quotaMetric": _QUOTA_METRIC,
                            "quotaId": "GenerateRequestsPerMinutePerProjectPerModel",
                            "quotaDimensions": {"location": "global"},
                            "quotaValue": "15",
                        }
                    ],
                }
            )
            details.append(
                {
                    "@type": _RPC + "Help",
                    "links": [
                        {
                            "description": "Learn more about Gemini API quotas",
                            "url": "https://ai.google.dev/gemini-api/docs/rate-limits",
                        }
                    ],
                }
            )
        if retry_after is not None:
            details.append(
                {"@type": _RPC + "RetryInfo", "retryDelay": google_duration(retry_after)}
            )
        if details:
            body["details"] = details
        return body

    def error_body(self, error: WireError, retry_after: float | None) -> dict[str, Any]:
        return {"error": self._error(error, retry_after)}

    def stream_error_event(self, status: int, error: str | None, message: str | None) -> bytes:
        # The service writes a mid-stream error as plain (pretty-printed) JSON, not as an
        # SSE `data:` line; google-genai reassembles it line by line.
        body = {"error": self._error(WireError(status, message, error), None)}
        return json.dumps(body, indent=2).encode() + b"\n"

    def default_stream_error_status(self) -> int:
        return 503

    def headers(self, request_id: str, quota: Quota | None) -> dict[str, str]:
        # The service sends no request id header.
        return {"server-timing": "gfet4t7; dur=1", "vary": "Origin, X-Origin, Referer"}

    def stream_content_type(self) -> str:
        return "text/event-stream"

    def model_json(self, model: str) -> dict[str, Any]:
        return {
            "name": f"models/{model}",
            "version": "001",
            "displayName": model.replace("-", " ").title(),
            "inputTokenLimit": 1048576,
            "outputTokenLimit": 65536,
            "supportedGenerationMethods": ["generateContent", "countTokens"],
        }

    def models_json(self, models: list[str]) -> dict[str, Any]:
        return {"models": [self.model_json(m) for m in models]}
