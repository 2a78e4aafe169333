"""How one request's life becomes rows: the store is an observer of the request's events.

Each event is one store write; with the SQLite store's default durability that is only an
enqueue on its write-behind queue (``durability="sync"`` waits for the commit).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
from collections.abc import Sequence
from typing import Any

from automatosx.errors import ProviderError, redact
from automatosx.observe import AttemptInfo, Observer, Outcome, RequestInfo
from automatosx.schemas import Message
from automatosx.schemas import _now_ms as now_ms
from automatosx.store.base import AttemptRecord, RecordSink, RequestRecord

__all__ = ["LazyMessages", "StoreObserver", "messages_json", "now_ms"]


def messages_json(messages: Sequence[Message] | Any, capture: bool) -> str:
    """The messages as stored: JSON, or ``sha256:<hex>`` of that JSON when capture is off."""
    if isinstance(messages, (list, tuple)) and messages and isinstance(messages[0], Message):
        payload: Any = [_message(m) for m in messages]
    else:
        payload = messages
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), default=str)
    if capture:
        return text
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def _message(m: Message) -> dict[str, Any]:
    """A message as stored: text as sent; an image part as its digest and size, never its
    bytes; tool calls and the call a tool result answers."""
    content: Any = m.content
    if isinstance(content, list):
        content = [_part(p) for p in content]
    out: dict[str, Any] = {"role": m.role, "content": content}
    if m.name:
        out["name"] = m.name
    if m.tool_calls:
        out["toolCalls"] = [c.model_dump(mode="json", by_alias=True) for c in m.tool_calls]
    if m.tool_call_id:
        out["toolCallId"] = m.tool_call_id
    return out


def _part(part: Any) -> dict[str, Any]:
    if part.type == "text":
        return {"type": "text", "text": part.text}
    if part.data is not None:
        raw = part.data.encode()
        with contextlib.suppress(binascii.Error, ValueError):
            raw = base64.b64decode(raw, validate=False)
        return {
            "type": "image",
            "mediaType": part.media_type,
            "sha256": hashlib.sha256(raw).hexdigest(),
            "bytes": len(raw),
        }
    return {"type": "image", "url": part.url}


class LazyMessages:
    """The messages column, serialized only when the store's writer binds it (``str()``), so
    the JSON encoding stays off the request's path."""

    __slots__ = ("_capture", "_messages", "_text")

    def __init__(self, messages: Sequence[Message] | Any, capture: bool) -> None:
        # A snapshot: the writer binds it after the call returned, and the caller may have
        # appended the reply to the same list by then (a chat loop).
        self._messages = tuple(messages) if isinstance(messages, list) else messages
        self._capture = capture
        self._text: str | None = None

    def __str__(self) -> str:
        if self._text is None:
            self._text = messages_json(self._messages, self._capture)
        return self._text


def error_text(error: BaseException) -> str:
    return redact(str(error))[:2000]


_STARTED = ["idle", "validating", "requesting"]  # the history once validation passed


class StoreObserver(Observer):
    """Records every request into a :class:`~automatosx.store.RecordSink`."""

    __slots__ = ("chunks", "messages", "sink")

    def __init__(self, sink: RecordSink, *, messages: bool = True, chunks: bool = True) -> None:
        self.sink = sink
        self.messages = messages
        self.chunks = chunks

    def _row(self, info: RequestInfo, raw_messages: Any) -> RequestRecord:
        req = info.request
        return RequestRecord(
            id=info.request_id,
            provider=info.provider,
            model=info.model,
            messages=LazyMessages(raw_messages, self.messages)
            if req is not None
            else messages_json(raw_messages, self.messages),
            max_tokens=None if req is None else req.max_tokens,
            temperature=1.0 if req is None else req.temperature,
            stream=info.stream,
            state="requesting",
            retry_count=0,
            history=_STARTED,
            created_at=info.created_at,
            updated_at=info.created_at,
            metadata=None if req is None else req.metadata,
        )

    async def request_started(self, request: RequestInfo) -> None:
        assert request.request is not None
        await self.sink.save_request(self._row(request, request.request.messages))

    async def attempt_ended(self, request: RequestInfo, attempt: AttemptInfo) -> None:
        error = attempt.error
        status = error.status_code if isinstance(error, ProviderError) else None
        code = getattr(error, "code", None) if error is not None else None
        await self.sink.save_attempt(
            AttemptRecord(
                request_id=request.request_id,
                attempt=attempt.number,
                provider=attempt.provider,
                model=attempt.model,
                outcome="success" if error is None else "failure",
                error_code=code if isinstance(code, str) else None,
                error=None if error is None else error_text(error),
                status_code=status,
                duration=attempt.duration_ms,
                created_at=now_ms(),
            )
        )

    async def request_finished(self, request: RequestInfo, outcome: Outcome) -> None:
        sink = self.sink
        error = None if outcome.error is None else redact(outcome.error)[:2000]
        if request.request is None:  # invalid input: the whole row in one write
            row = self._row(request, _raw_messages(request.raw))
            row.state = outcome.state
            row.history = outcome.history
            row.error = error
            row.error_code = outcome.error_code
            await sink.save_request(row)
            return
        if outcome.response is not None:
            await sink.save_response(outcome.response)
        if self.chunks and outcome.chunks:
            await sink.save_stream_chunks(request.request_id, outcome.chunks)
        await sink.update_request_state(
            request.request_id,
            state=outcome.state,
            retry_count=outcome.retry_count,
            history=outcome.history,
            error=error,
            error_code=outcome.error_code,
            updated_at=now_ms(),
        )


def _raw_messages(raw: Any) -> Any:
    return raw.get("messages") if isinstance(raw, dict) else None
