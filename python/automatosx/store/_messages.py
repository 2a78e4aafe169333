"""How messages are stored: JSON as sent, images as their digest and size (never their bytes),
or only a SHA-256 digest of the whole when message capture is off."""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
from collections.abc import Sequence
from typing import Any

from automatosx.schemas import Message

__all__ = ["LazyMessages", "messages_json"]


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
