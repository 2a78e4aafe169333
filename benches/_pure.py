"""Small, honest pure-Python equivalents of the Rust core, to benchmark the core against.

Each does the same work as its Rust counterpart as plainly as Python allows: the request
state machine (a dict from (state, event) to a handler, a slotted context, a history list),
a thread-safe GCRA limiter for requests and tokens per minute, and full-jitter backoff that
honours a retry-after. None is used by automatosx itself.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["PureBackoff", "PureEvent", "PureLimiter", "PureMachine", "monotonic_ms"]


def monotonic_ms() -> int:
    return time.monotonic_ns() // 1_000_000


class InvalidTransition(Exception):
    pass


@dataclass(frozen=True, slots=True)
class PureEvent:
    name: str
    data: dict[str, Any]

    @staticmethod
    def initiate_request(**data: Any) -> PureEvent:
        return PureEvent("initiate_request", data)

    @staticmethod
    def validation_passed() -> PureEvent:
        return PureEvent("validation_passed", {})

    @staticmethod
    def receive_response(**data: Any) -> PureEvent:
        return PureEvent("receive_response", data)

    @staticmethod
    def receive_stream_chunk(chunk: str, index: int) -> PureEvent:
        return PureEvent("receive_stream_chunk", {"chunk": chunk, "index": index})

    @staticmethod
    def request_failed(error: str, code: str) -> PureEvent:
        return PureEvent("request_failed", {"error": error, "code": code})


class _Context:
    __slots__ = (
        "attempt",
        "chunks",
        "duration_ms",
        "error",
        "error_code",
        "fallback_index",
        "fallback_providers",
        "input_tokens",
        "max_retries",
        "max_tokens",
        "message_count",
        "model",
        "output_tokens",
        "provider",
        "request_id",
        "response",
        "retry_count",
        "stream",
        "temperature",
        "total_tokens",
    )

    def __init__(self, request_id: str, max_retries: int, fallbacks: list[str]) -> None:
        self.request_id = request_id
        self.max_retries = max_retries
        self.fallback_providers = fallbacks
        self.fallback_index = 0
        self.provider = self.model = ""
        self.message_count = 0
        self.max_tokens: int | None = None
        self.temperature: float | None = None
        self.stream = False
        self.retry_count = self.attempt = 0
        self.response = ""
        self.chunks: list[str] = []
        self.error: str | None = None
        self.error_code: str | None = None
        self.input_tokens = self.output_tokens = self.total_tokens = self.duration_ms = 0


Handler = Callable[["PureMachine", dict[str, Any]], str]


def _initiate(m: PureMachine, d: dict[str, Any]) -> str:
    c = m.context
    c.provider, c.model, c.message_count = d["provider"], d["model"], d["message_count"]
    c.max_tokens, c.temperature = d.get("max_tokens"), d.get("temperature")
    c.stream = d.get("stream", False)
    return "validating"


def _validated(m: PureMachine, d: dict[str, Any]) -> str:
    if m.context.message_count <= 0:
        raise InvalidTransition("validation_passed needs at least one message")
    m.context.attempt += 1
    return "requesting"


def _response(m: PureMachine, d: dict[str, Any]) -> str:
    c = m.context
    if c.stream:
        raise InvalidTransition("receive_response on a streaming request")
    c.response = d["content"]
    c.input_tokens, c.output_tokens = d["input_tokens"], d["output_tokens"]
    c.total_tokens, c.duration_ms = d["total_tokens"], d["duration_ms"]
    return "completed"


def _chunk(m: PureMachine, d: dict[str, Any]) -> str:
    c = m.context
    if not c.stream or d["index"] != len(c.chunks):
        raise InvalidTransition("unexpected stream chunk")
    c.chunks.append(d["chunk"])
    return "streaming"


def _failed(m: PureMachine, d: dict[str, Any]) -> str:
    m.context.error, m.context.error_code = d["error"], d["code"]
    return "failed"


_TABLE: dict[tuple[str, str], Handler] = {
    ("idle", "initiate_request"): _initiate,
    ("validating", "validation_passed"): _validated,
    ("requesting", "receive_response"): _response,
    ("requesting", "receive_stream_chunk"): _chunk,
    ("streaming", "receive_stream_chunk"): _chunk,
    **{
        (state, "request_failed"): _failed
        for state in ("validating", "requesting", "streaming", "rate_limited", "retrying")
    },
}


class PureMachine:
    """The request state machine's happy path and failure edge, table-driven."""

    __slots__ = ("context", "history", "state")

    def __init__(
        self, request_id: str, max_retries: int = 3, fallback_providers: list[str] | None = None
    ) -> None:
        self.state = "idle"
        self.history = ["idle"]
        self.context = _Context(request_id, max_retries, list(fallback_providers or []))

    def transition(self, event: PureEvent) -> None:
        handler = _TABLE.get((self.state, event.name))
        if handler is None:
            raise InvalidTransition(f"cannot apply event {event.name!r} in state {self.state!r}")
        new = handler(self, event.data)
        if new != self.state:
            self.state = new
            self.history.append(new)


class _Gcra:
    __slots__ = ("burst", "rate", "tat")

    def __init__(self, per_minute: int, burst: int | None) -> None:
        self.rate = per_minute
        self.burst = max(1, burst if burst is not None else -(-per_minute // 60))
        self.tat = 0

    def wait_ms(self, cost: int, now_ms: int) -> int:
        now = now_ms * self.rate
        allowed_at = max(self.tat, now) + min(cost, self.burst) * 60_000 - self.burst * 60_000
        return max(0, -(-(allowed_at - now) // self.rate))

    def reserve(self, cost: int, now_ms: int) -> None:
        self.tat = max(self.tat, now_ms * self.rate) + cost * 60_000


class PureLimiter:
    """GCRA on requests and tokens per minute (integer arithmetic, as in limiter.rs)."""

    def __init__(
        self,
        requests_per_minute: int | None = None,
        tokens_per_minute: int | None = None,
        request_burst: int | None = None,
        token_burst: int | None = None,
    ) -> None:
        self._requests = _Gcra(requests_per_minute, request_burst) if requests_per_minute else None
        self._tokens = _Gcra(tokens_per_minute, token_burst) if tokens_per_minute else None
        self._lock = threading.Lock()

    def try_acquire(self, tokens: int = 0, now_ms: int | None = None) -> int:
        now = monotonic_ms() if now_ms is None else now_ms
        with self._lock:
            r, t = self._requests, self._tokens
            wait = max(
                r.wait_ms(1, now) if r is not None else 0,
                t.wait_ms(tokens, now) if t is not None else 0,
            )
            if wait == 0:
                if r is not None:
                    r.reserve(1, now)
                if t is not None:
                    t.reserve(tokens, now)
            return wait


class PureBackoff:
    """Full jitter: uniform in [0, min(cap, base * 2**attempt)]; a retry-after wins; None when
    the wait is longer than ``max_wait_ms``."""

    def __init__(self, base_ms: int = 500, cap_ms: int = 30_000, max_wait_ms: int = 60_000):
        self.base_ms, self.cap_ms, self.max_wait_ms = base_ms, cap_ms, max_wait_ms
        self._random = random.Random()

    def delay_ms(self, attempt: int, retry_after_ms: int | None = None) -> int | None:
        if retry_after_ms is not None:
            delay = retry_after_ms
        else:
            ceiling = min(self.cap_ms, self.base_ms * (1 << min(attempt, 62)))
            delay = self._random.randint(0, ceiling)
        return None if delay > self.max_wait_ms else delay
