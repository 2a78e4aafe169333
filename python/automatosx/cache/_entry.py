"""What the response cache stores: :class:`CachedReply`, a complete reply and its chunks, and
the :class:`Cache` protocol a backend implements.

A backend stores bytes under a key for a time; the router encodes a reply with
:meth:`CachedReply.to_bytes` and decodes it with :meth:`CachedReply.from_bytes`, which checks
everything it reads (a corrupt or foreign value raises :class:`CacheDataError`, which the
router turns into a miss and a warning).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from pydantic import ValidationError

from automatosx.schemas import ProviderResponse, TokenUsage, ToolCall, _assemble, _fields_of
from automatosx.schemas import _now_ms as now_ms

__all__ = ["Cache", "CacheDataError", "CachedReply", "ReplyChunk"]

FORMAT = 1
ReplyChunk = tuple[str, ToolCall | None]
"""One chunk of a stored stream: its text, or a completed tool call (with empty text)."""
_ENTRY_OVERHEAD = 256
_CHUNK_OVERHEAD = 48


class CacheDataError(ValueError):
    """A value read from a cache backend is not a reply this router stored."""


@runtime_checkable
class Cache(Protocol):
    """A response cache backend: bytes under a string key, for a time.

    ``get`` returns the value stored under ``key`` (None if there is none, or it expired);
    ``set`` stores ``value`` for ``ttl_s`` seconds. Either may raise: the router treats any
    exception as a miss (or a lost write) and logs a warning, and never passes it to the
    caller. A backend may also have ``async open()`` and ``async aclose()``, which the router
    calls when it opens and closes. Keys are 64 hex characters; values are opaque.
    """

    async def get(self, key: str) -> bytes | None: ...

    async def set(self, key: str, value: bytes, ttl_s: float) -> None: ...


class CachedReply:
    """A complete successful reply as stored, and, when it came from a stream, its chunks in
    order. It keeps the reply's values, not its objects (plain values are cheap to hold: the
    garbage collector does not track them), and builds a fresh response for every hit."""

    __slots__ = ("_tokens", "_values", "chunks", "cost", "size")

    def __init__(self, response: ProviderResponse, chunks: Sequence[ReplyChunk] | None) -> None:
        """Keep ``response`` (its tool calls and metadata as they are: see :meth:`of`)."""
        d = response.__dict__
        t = d["tokens"].__dict__
        self.cost: float | None = d["cost"]
        self._values = (
            d["provider"],
            d["model"],
            d["content"],
            d["finish_reason"],
            d["metadata"],
            tuple(d["tool_calls"] or ()),
        )
        self._tokens = (
            t["input_tokens"],
            t["output_tokens"],
            t["total_tokens"],
            t.get("cached_input_tokens"),
            t.get("cache_write_tokens"),
            t.get("reasoning_tokens"),
        )
        content = d["content"]
        if chunks is None and not self._values[5]:  # execute's text reply: the common case
            self.chunks: tuple[ReplyChunk, ...] | None = None
            size = len(content) if content.isascii() else len(content.encode("utf-8", "replace"))
            self.size = _ENTRY_OVERHEAD + size
        else:
            self.chunks = None if chunks is None else tuple(chunks)
            self.size = _size(content, self._values[5], self.chunks)

    @classmethod
    def of(cls, response: ProviderResponse, chunks: Sequence[ReplyChunk] | None) -> CachedReply:
        """A snapshot of ``response``: its tool calls and metadata are copied, so a later
        change to the caller's objects never reaches the cache."""
        d = response.__dict__
        if d["tool_calls"] or d["metadata"] is not None:
            data = dict(d)
            data["tool_calls"] = [c.model_copy(deep=True) for c in d["tool_calls"] or ()]
            data["metadata"] = None if d["metadata"] is None else copy.deepcopy(d["metadata"])
            response = _assemble(ProviderResponse, data, set(response.__pydantic_fields_set__))
        return cls(response, chunks)

    # -- serving -----------------------------------------------------------------------------

    def served(self, request_id: str, duration_ms: int) -> ProviderResponse:
        """The reply as a hit returns it: ``cached``, ``cost`` 0, ``savedCost`` what the
        stored reply cost, the new request's id."""
        return self._build(request_id, duration_ms, True)

    @property
    def response(self) -> ProviderResponse:
        """The reply as the provider made it (a fresh object)."""
        return self._build(_NO_ID, 0, False)

    def _build(self, request_id: str, duration_ms: int, cached: bool) -> ProviderResponse:
        provider, model, content, finish, metadata, calls = self._values
        i, o, total, read, write, reasoning = self._tokens
        tokens = _assemble(
            TokenUsage,
            {
                "input_tokens": i,
                "output_tokens": o,
                "total_tokens": total,
                "cached_input_tokens": read,
                "cache_write_tokens": write,
                "reasoning_tokens": reasoning,
            },
            set(_TOKEN_FIELDS),
        )
        cost = self.cost
        data = {
            "request_id": request_id,
            "provider": provider,
            "model": model,
            "content": content,
            "tokens": tokens,
            "finish_reason": finish,
            "duration": duration_ms,
            "cost": 0.0 if cached else cost,
            "metadata": None if metadata is None else copy.deepcopy(metadata),
            "created_at": now_ms(),
            "tool_calls": [c.model_copy(deep=True) for c in calls] if calls else [],
            "parsed": None,
            "cached": cached,
            "saved_cost": cost if cached else None,
        }
        return _assemble(ProviderResponse, data, set(_RESPONSE_FIELDS))

    def items(self) -> list[str | ToolCall]:
        """What a stream hit replays, in order: texts and tool calls (copies). A reply stored
        by ``execute`` replays as its text, then its tool calls."""
        chunks = self.chunks
        if chunks is None:
            content, calls = self._values[2], self._values[5]
            chunks = ((content, None),) if content else ()
            chunks += tuple(("", c) for c in calls)
        return [text if call is None else call.model_copy(deep=True) for text, call in chunks]

    @staticmethod
    def chunks_of(
        texts: Sequence[str] | None, response: ProviderResponse
    ) -> list[ReplyChunk] | None:
        """A finished stream's chunks from its texts (an empty text is a tool call's place:
        the response's ``tool_calls`` in order); None for ``execute``, or when they do not
        match (the reply then replays from the response)."""
        if texts is None:
            return None
        calls = iter(response.tool_calls or ())
        out: list[ReplyChunk] = []
        for text in texts:
            if text:
                out.append((text, None))
                continue
            call = next(calls, None)
            if call is None:
                return None
            out.append(("", call))
        return out if next(calls, None) is None else None

    # -- bytes -------------------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        """JSON: ``{"format": 1, "response": <ProviderResponse, camelCase>, "chunks":
        [[text, toolCall | null], ...] | null}``."""
        response = self.response.model_dump(mode="json", by_alias=True, exclude={"parsed"})
        chunks = (
            None
            if self.chunks is None
            else [
                [text, None if call is None else call.model_dump(mode="json", by_alias=True)]
                for text, call in self.chunks
            ]
        )
        doc = {"format": FORMAT, "response": response, "chunks": chunks}
        return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()

    @classmethod
    def from_bytes(cls, value: object) -> CachedReply:
        """Decode and check a stored value; :class:`CacheDataError` says what is wrong."""
        if isinstance(value, str):
            value = value.encode()
        if not isinstance(value, (bytes, bytearray, memoryview)):
            raise CacheDataError(f"expected bytes, got {type(value).__name__}")
        try:
            doc = json.loads(bytes(value))
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise CacheDataError(f"not JSON: {exc}") from None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise CacheDataError("not a stored reply (no 'format': 1)")
        try:
            response = ProviderResponse.model_validate(doc.get("response"))
            chunks = _chunks(doc.get("chunks"))
        except (ValidationError, TypeError, ValueError) as exc:
            raise CacheDataError(f"not a stored reply: {_first_line(exc)}") from None
        if response.finish_reason == "content_filter" or response.cached:
            raise CacheDataError("holds a refusal or a served copy, which are never stored")
        return cls(response, chunks)


_RESPONSE_FIELDS = _fields_of(ProviderResponse)
_TOKEN_FIELDS = _fields_of(TokenUsage)
_NO_ID = "00000000-0000-4000-8000-000000000000"


def _chunks(raw: Any) -> list[ReplyChunk] | None:
    if raw is None:
        return None
    if not isinstance(raw, list):
        raise TypeError("chunks: expected a list")
    out: list[ReplyChunk] = []
    for item in raw:
        if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], str)):
            raise TypeError("chunks: each must be [text, toolCall | null]")
        out.append((item[0], None if item[1] is None else ToolCall.model_validate(item[1])))
    return out


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _text_size(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8", "replace"))


def _size(content: str, calls: Sequence[ToolCall], chunks: tuple[ReplyChunk, ...] | None) -> int:
    """The bytes a reply holds, as the memory cache counts them: its texts' UTF-8 length
    (the reply, each chunk), tool calls' JSON estimated, and a fixed overhead per entry
    and chunk for the objects around them."""
    size = _ENTRY_OVERHEAD + _text_size(content)
    for call in calls:
        size += _ENTRY_OVERHEAD + len(json.dumps(call.arguments))
    if chunks is not None:
        for text, chunk_call in chunks:
            size += _CHUNK_OVERHEAD + _text_size(text)
            if chunk_call is not None:
                size += _ENTRY_OVERHEAD + len(json.dumps(chunk_call.arguments))
    return size
