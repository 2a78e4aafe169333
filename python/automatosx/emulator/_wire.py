"""What every provider's wire protocol module provides, and the shared pieces they use."""

from __future__ import annotations

import json
import math
import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol

from starlette.requests import Request

from automatosx.emulator._reply import Prompt, Reply

__all__ = [
    "DEFAULT_MODELS",
    "MODEL_PREFIXES",
    "Quota",
    "StreamBody",
    "Wire",
    "WireError",
    "a_noun",
    "dumps",
    "is_int",
    "is_known_model",
    "is_number",
    "new_id",
    "retry_after_value",
    "type_name",
]

MODEL_PREFIXES: dict[str, tuple[str, ...]] = {
    "claude": ("claude",),
    "openai": ("gpt", "o", "chatgpt"),
    "gemini": ("gemini",),
    # Azure deployments are named by their owner: any name may be one.
    "azure": ("",),
    "vertex": ("gemini",),
    "responses": ("gpt", "o", "chatgpt"),
}
DEFAULT_MODELS: dict[str, tuple[str, ...]] = {
    "claude": ("claude-sonnet-4-6", "claude-opus-4-7", "claude-haiku-4-5"),
    "openai": ("gpt-4o", "gpt-4o-mini", "gpt-4.1", "o3-mini"),
    "gemini": ("gemini-2.5-flash", "gemini-2.5-pro", "gemini-2.0-flash"),
}


def is_known_model(provider: str, model: str, known: frozenset[str] | None) -> bool:
    if known is not None:
        return model in known
    return model.startswith(MODEL_PREFIXES[provider])


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def type_name(value: Any) -> str:
    """`value`'s JSON type, as the services name it in their errors."""
    names = {bool: "boolean", int: "integer", float: "number", str: "string", list: "array"}
    return names.get(type(value), "object" if isinstance(value, dict) else "null")


def a_noun(noun: str) -> str:
    return ("an " if noun[0] in "aeiou" else "a ") + noun


def dumps(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


def new_id(prefix: str) -> str:
    return prefix + uuid.uuid4().hex[:24]


def retry_after_value(seconds: float) -> str:
    """`retry-after` in whole seconds, rounded up (the header's standard form)."""
    return str(max(0, math.ceil(seconds)))


class WireError(Exception):
    """A request the provider would reject; rendered with the provider's error body."""

    def __init__(
        self,
        status: int,
        message: str | None = None,
        error: str | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message or str(status))
        self.status = status
        self.message = message
        self.error = error
        self.param = param


@dataclass(frozen=True)
class Quota:
    """A rate-limit window's state, for the providers' `*ratelimit*` headers."""

    requests_limit: int
    requests_remaining: int
    tokens_limit: int
    tokens_remaining: int
    reset_in: float  # seconds until the window resets
    reset_at: float  # epoch seconds of the reset


@dataclass
class StreamBody:
    """An SSE body in three parts: the fault counters count `chunks` only."""

    preamble: list[bytes] = field(default_factory=list)
    chunks: list[bytes] = field(default_factory=list)
    epilogue: list[bytes] = field(default_factory=list)


class Wire(Protocol):
    """One provider's dialect. Methods raise `WireError` for requests the service rejects."""

    provider: str

    def api_key(self, request: Request) -> str | None:
        """The API key the request carries, or None."""

    def missing_key_error(self) -> WireError: ...

    def invalid_key_error(self) -> WireError: ...

    def parse(self, body: bytes, request: Request) -> Prompt:
        """Validate the body like the service does; raise `WireError` when it would not."""

    def unknown_model_error(self, model: str, request: Request) -> WireError: ...

    def reply_json(self, prompt: Prompt, reply: Reply) -> dict[str, Any]: ...

    def reply_stream(self, prompt: Prompt, reply: Reply) -> StreamBody: ...

    def error_body(self, error: WireError, retry_after: float | None) -> dict[str, Any]: ...

    def stream_error_event(self, status: int, error: str | None, message: str | None) -> bytes:
        """The bytes of an in-stream error event."""

    def default_stream_error_status(self) -> int: ...

    def headers(self, request_id: str, quota: Quota | None) -> dict[str, str]:
        """Headers the service puts on every response."""

    def stream_content_type(self) -> str: ...

    def models_json(self, models: list[str]) -> dict[str, Any]: ...

    def model_json(self, model: str) -> dict[str, Any]: ...
