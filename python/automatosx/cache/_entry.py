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
from time import time_ns as _time_ns
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, ValidationError

from automatosx.schemas import ProviderResponse, TokenUsage, ToolCall, _assemble, _fields_of

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
    order. It keeps the reply's field values (shallow copies of the response's and its
    usage's), not its objects, and builds a fresh response for every hit."""

    __slots__ = ("_calls", "_data", "_tokens", "chunks", "cost", "size")

    def __init__(self, response: ProviderResponse, chunks: Sequence[ReplyChunk] | None) -> None:
        """Keep ``response`` (its tool calls and metadata as they are: see :meth:`of`)."""
        data = response.__dict__.copy()
        self._tokens: dict[str, Any] = data["tokens"].__dict__.copy()
        calls = data["tool_calls"]
        self._calls: tuple[ToolCall, ...] = tuple(calls) if calls else ()
        cost = self.cost = data["cost"]
        # what every hit shares; the per-hit fields are set by _build
        data.update(_SERVED)  # a hit's cost is 0 (``response`` puts the reply's back)
        data["saved_cost"] = cost
        self._data = data
        content = data["content"]
        if chunks is None and not calls:  # execute's text reply: the common case
            self.chunks: tuple[ReplyChunk, ...] | None = None
            size = len(content) if content.isascii() else len(content.encode("utf-8", "replace"))
            self.size = _ENTRY_OVERHEAD + size
        else:
            self.chunks = None if chunks is None else tuple(chunks)
            self.size = _size(content, self._calls, self.chunks)

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
        stored reply cost, the new request's id. (:meth:`_fill` inlined: a hit's path.)"""
        data = self._data.copy()
        data["request_id"] = request_id
        data["duration"] = duration_ms
        data["created_at"] = _time_ns() // 1_000_000  # automatosx._clock.now_ms, inlined
        tokens = _new(TokenUsage)  # _assemble, inlined (the slots set by their descriptors)
        _setattr(tokens, "__dict__", self._tokens.copy())
        _set_fields(tokens, _TOKEN_FIELDS)
        _set_extra(tokens, None)
        _set_private(tokens, None)
        data["tokens"] = tokens
        calls = self._calls
        data["tool_calls"] = [c.model_copy(deep=True) for c in calls] if calls else []
        metadata = data["metadata"]
        if metadata is not None:
            data["metadata"] = copy.deepcopy(metadata)
        response = _new(ProviderResponse)
        _setattr(response, "__dict__", data)
        _set_fields(response, _RESPONSE_FIELDS)
        _set_extra(response, None)
        _set_private(response, None)
        return response

    @property
    def response(self) -> ProviderResponse:
        """The reply as the provider made it (a fresh object)."""
        data = self._data.copy()
        data["request_id"] = _NO_ID
        data["duration"] = 0
        data["cost"] = self.cost
        data["cached"] = False
        data["saved_cost"] = None
        return self._fill(data)

    def _fill(self, data: dict[str, Any]) -> ProviderResponse:
        """``data`` with fresh copies of the usage, tool calls and metadata, as a response."""
        data["tokens"] = _assemble(TokenUsage, self._tokens.copy(), _TOKEN_FIELDS)
        calls = self._calls
        data["tool_calls"] = [c.model_copy(deep=True) for c in calls] if calls else []
        metadata = data["metadata"]
        if metadata is not None:
            data["metadata"] = copy.deepcopy(metadata)
        return _assemble(ProviderResponse, data, _RESPONSE_FIELDS)

    def items(self) -> list[str | ToolCall]:
        """What a stream hit replays, in order: texts and tool calls (copies). A reply stored
        by ``execute`` replays as its text, then its tool calls."""
        chunks = self.chunks
        if chunks is None:
            content, calls = self._data["content"], self._calls
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


_SERVED: dict[str, Any] = {
    "tokens": None,  # rebuilt for each hit, as are the tool calls
    "tool_calls": None,
    "parsed": None,
    "cached": True,
    "cost": 0.0,
}
_RESPONSE_FIELDS = set(_fields_of(ProviderResponse))
_TOKEN_FIELDS = set(_fields_of(TokenUsage))
# Shared by every served reply (each has every field set): pydantic only adds to a model's
# fields-set on assignment, and every name is in it already.
_NO_ID = "00000000-0000-4000-8000-000000000000"
_new = object.__new__
_setattr = object.__setattr__
_set_fields = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_set_extra = BaseModel.__dict__["__pydantic_extra__"].__set__
_set_private = BaseModel.__dict__["__pydantic_private__"].__set__


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
