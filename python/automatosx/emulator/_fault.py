"""What the emulator does to one request (`Fault`), and the error a bad scenario raises."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal

__all__ = [
    "FAULT_FIELDS",
    "Fault",
    "FaultKind",
    "MalformedKind",
    "RefusalKind",
    "ScenarioError",
    "check_field",
]

MalformedKind = Literal["not_json", "wrong_shape"]
RefusalKind = Literal["context_length", "content_filter", "prompt_blocked"]
_MALFORMED_KINDS: tuple[MalformedKind, ...] = ("not_json", "wrong_shape")
_REFUSAL_KINDS: tuple[RefusalKind, ...] = ("context_length", "content_filter", "prompt_blocked")
FaultKind = Literal["429", "500", "503", "529", "midstream", "drop"]


class ScenarioError(ValueError):
    """A scenario that cannot be loaded or built: a missing or unreadable file, malformed
    JSON or TOML, unknown keys, or a bad value. The message is one line naming the file (when
    there is one) and the key, e.g. ``faults.json: rules[0].status: expected an integer, got
    'abc'``; `path` and `key` hold them."""

    def __init__(self, message: str, *, path: str | None = None, key: str | None = None) -> None:
        where = ": ".join(p for p in (path, key) if p)
        super().__init__(f"{where}: {message}" if where else message)
        self.reason = message
        self.path = path
        self.key = key

    def within(self, key: str | None = None, path: str | None = None) -> ScenarioError:
        """The same error, its key prefixed with `key` (e.g. "rules[2]") and naming `path`."""
        joined = f"{key}.{self.key}" if key and self.key else key or self.key
        return ScenarioError(self.reason, path=path or self.path, key=joined)


@dataclass(frozen=True)
class Fault:
    """What to do to one request: the merged effect of the rules that matched it.

    - `status`: answer with this HTTP status and the provider's real error body. With
      `stream_error_after` set it names the error carried by the event instead; with
      `drop_after` set (and no `stream_error_after`) it is ignored.
    - `error`: the error type / code to put in the body (e.g. "insufficient_quota" for OpenAI,
      "api_error" for Anthropic); each provider has a default per status.
    - `message`: the error message; defaults to the provider's usual wording.
    - `retry_after` (seconds) -> `retry-after` header, rounded up to whole seconds;
      `retry_after_ms` -> `retry-after-ms` header. Gemini sends neither header (the real
      service does not): both go into the error's `google.rpc.RetryInfo.retryDelay` instead,
      `retry_after_ms` winning.
    - `headers`: extra response headers.
    - `latency`: seconds before the first byte; `chunk_latency`: seconds between stream chunks.
    - `stream_error_after`: on a streamed request, send this many text chunks, then the
      provider's in-stream error event; a non-streamed request gets the error as a status.
    - `drop_after`: close the connection after this many text chunks (streamed) or after part
      of the body (non-streamed, any value).

    Faults for failover and timeout tests:

    - `silence`: accept the request (read its body) and never send a byte, not even headers,
      until the client gives up and disconnects.
    - `late_first_token_ms`: send the headers (and a stream's opening events) at once, then
      wait this long before the first text chunk; a JSON reply waits this long before it is
      sent at all.
    - `stall_after`: send this many text chunks (non-streamed: half the body), then keep the
      connection open and send nothing more until the client disconnects.
    - `cut_after`: send this many text chunks, then end the response cleanly without the
      provider's terminating events (no Anthropic `message_stop`, no OpenAI `[DONE]`, no
      Gemini chunk with a `finishReason`). Non-streamed: half the JSON body, ended cleanly.
    - `malformed_event`: "not_json" (an SSE event whose data is not valid JSON) or
      "wrong_shape" (valid JSON of no shape the provider sends), inserted after
      `malformed_after` text chunks (default 1) in an otherwise complete stream.
    - `refusal`: the request is refused as each service refuses it:
      "context_length" -> 400 (OpenAI `context_length_exceeded`; Anthropic
      "prompt is too long: N tokens > M maximum"; Gemini INVALID_ARGUMENT "The input token
      count (N) exceeds the maximum number of tokens allowed (M).");
      "content_filter" -> 200 whose reply stops for safety (OpenAI `finish_reason:
      "content_filter"`, Anthropic `stop_reason: "refusal"`, Gemini candidate
      `finishReason: "SAFETY"` without content);
      "prompt_blocked" -> OpenAI 400 `content_policy_violation`, Gemini 200 with
      `promptFeedback.blockReason: "SAFETY"` and no candidates, Anthropic a 200 refusal with
      no content.

    In a scenario file these are rule keys like the others, e.g.
    `{"provider": "openai", "cut_after": 2}` or `{"provider": "gemini", "refusal":
    "context_length"}`.

    Replaying recorded traffic, only `status` (on generation requests, answered before any
    recording is taken, its error body shaped by `error`, `message` and the retry fields),
    `latency`, `headers` and `drop_after` apply; `stream_error_after` and `chunk_latency`
    are ignored.
    """

    status: int | None = None
    error: str | None = None
    message: str | None = None
    retry_after: float | None = None
    retry_after_ms: int | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    latency: float | None = None
    chunk_latency: float | None = None
    stream_error_after: int | None = None
    drop_after: int | None = None
    silence: bool | None = None
    late_first_token_ms: int | None = None
    stall_after: int | None = None
    cut_after: int | None = None
    malformed_event: MalformedKind | None = None
    malformed_after: int | None = None
    refusal: RefusalKind | None = None

    def __post_init__(self) -> None:
        if self.malformed_event is not None and self.malformed_event not in _MALFORMED_KINDS:
            raise ScenarioError(
                f"must be one of {_MALFORMED_KINDS}, not {self.malformed_event!r}",
                key="malformed_event",
            )
        if self.refusal is not None and self.refusal not in _REFUSAL_KINDS:
            raise ScenarioError(
                f"must be one of {_REFUSAL_KINDS}, not {self.refusal!r}", key="refusal"
            )
        for name in ("late_first_token_ms", "stall_after", "cut_after", "malformed_after"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ScenarioError(f"must be >= 0, not {value!r}", key=name)

    @property
    def is_empty(self) -> bool:
        return self == Fault()

    def merged_under(self, earlier: Fault) -> Fault:
        """`earlier` with the fields it leaves unset taken from this fault."""
        changes: dict[str, Any] = {}
        for f in fields(Fault):
            mine, theirs = getattr(self, f.name), getattr(earlier, f.name)
            if f.name == "headers":
                changes["headers"] = {**mine, **theirs}
            else:
                changes[f.name] = theirs if theirs is not None else mine
        return replace(earlier, **changes)


FAULT_FIELDS = frozenset(f.name for f in fields(Fault))

# What each rule key takes in a scenario file: a JSON type name and a test.
_INT = ("an integer", lambda v: isinstance(v, int) and not isinstance(v, bool))
_NUMBER = ("a number", lambda v: isinstance(v, (int, float)) and not isinstance(v, bool))
_TEXT = ("a string", lambda v: isinstance(v, str))
_FLAG = ("a boolean", lambda v: isinstance(v, bool))
_HEADERS = (
    "an object of strings",
    lambda v: isinstance(v, Mapping) and all(isinstance(x, str) for x in (*v, *v.values())),
)
_PAIR = (
    "[first, last] (last may be null)",
    lambda v: (
        isinstance(v, (list, tuple))
        and len(v) == 2
        and _INT[1](v[0])
        and (v[1] is None or _INT[1](v[1]))
    ),
)
_KINDS: dict[str, tuple[str, Any]] = {
    "status": _INT,
    "error": _TEXT,
    "message": _TEXT,
    "retry_after": _NUMBER,
    "retry_after_ms": _INT,
    "headers": _HEADERS,
    "latency": _NUMBER,
    "chunk_latency": _NUMBER,
    "stream_error_after": _INT,
    "drop_after": _INT,
    "silence": _FLAG,
    "late_first_token_ms": _INT,
    "stall_after": _INT,
    "cut_after": _INT,
    "malformed_event": _TEXT,
    "malformed_after": _INT,
    "refusal": _TEXT,
    "provider": _TEXT,
    "request": _INT,
    "requests": _PAIR,
    "first": _INT,
    "every": _INT,
}
_NON_NEGATIVE = frozenset(
    {"retry_after", "retry_after_ms", "latency", "chunk_latency", "stream_error_after"}
    | {"drop_after", "late_first_token_ms", "stall_after", "cut_after", "malformed_after"}
    | {"request", "first"}
)


def check_field(name: str, value: Any) -> None:
    """Raise `ScenarioError` (key `name`) unless `value` suits rule key `name`."""
    if value is None:
        return
    kind, test = _KINDS[name]
    if not test(value):
        raise ScenarioError(f"expected {kind}, got {value!r:.60}", key=name)
    if name in _NON_NEGATIVE and value < 0:
        raise ScenarioError(f"must be >= 0, not {value!r}", key=name)
    if name == "status" and not 100 <= value <= 599:
        raise ScenarioError(f"must be an HTTP status (100-599), not {value!r}", key=name)
