"""How one request's life becomes rows: the router calls these, the store persists them.

Each call is one store write; with the SQLite store's default durability that is only an
enqueue on its write-behind queue (``durability="sync"`` waits for the commit).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from automatosx._core import ProviderStateMachine
from automatosx.errors import ProviderError, redact
from automatosx.schemas import Message, ProviderResponse
from automatosx.schemas import _now_ms as now_ms
from automatosx.store.base import AttemptRecord, RequestRecord, Store

__all__ = ["LazyMessages", "Recorder", "messages_json", "now_ms"]


def messages_json(messages: Sequence[Message] | Any, capture: bool) -> str:
    """The messages as stored: JSON, or ``sha256:<hex>`` of that JSON when capture is off."""
    if isinstance(messages, (list, tuple)) and messages and isinstance(messages[0], Message):
        payload: Any = [
            {"role": m.role, "content": m.content, **({"name": m.name} if m.name else {})}
            for m in messages
        ]
    else:
        payload = messages
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), default=str)
    if capture:
        return text
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


class LazyMessages:
    """The messages column, serialized only when the store's writer binds it (sqlite3 calls
    ``__conform__``), so the JSON encoding stays off the request's path."""

    __slots__ = ("_capture", "_messages", "_text")

    def __init__(self, messages: Sequence[Message] | Any, capture: bool) -> None:
        # A snapshot: the writer binds it after the call returned, and the caller may have
        # appended the reply to the same list by then (a chat loop). Messages themselves are
        # models the caller could mutate too; copying each would cost the hot path.
        self._messages = tuple(messages) if isinstance(messages, list) else messages
        self._capture = capture
        self._text: str | None = None

    def __str__(self) -> str:
        if self._text is None:
            self._text = messages_json(self._messages, self._capture)
        return self._text

    def __conform__(self, protocol: object) -> str:
        return str(self)


def error_text(error: BaseException) -> str:
    return redact(str(error))[:2000]


class Recorder:
    """Writes one request's rows through a store. One per request."""

    __slots__ = ("attempts", "request_id", "store")

    def __init__(self, store: Store, request_id: str) -> None:
        self.store = store
        self.request_id = request_id
        self.attempts = 0

    async def request(
        self,
        *,
        provider: str,
        model: str,
        history: list[str],
        messages: str | LazyMessages,
        max_tokens: int | None,
        temperature: float,
        stream: bool,
        metadata: dict[str, Any] | None,
        created_at: int,
        state: str = "requesting",
        error: str | None = None,
        error_code: str | None = None,
    ) -> None:
        """The request row at entry: ``requesting``, or the whole row of a request that failed
        validation (``failed`` with its error: nothing follows it)."""
        await self.store.save_request(
            RequestRecord(
                id=self.request_id,
                provider=provider,
                model=model,
                messages=messages,
                max_tokens=max_tokens,
                temperature=temperature,
                stream=stream,
                state=state,
                retry_count=0,
                history=history,
                created_at=created_at,
                updated_at=created_at,
                metadata=metadata,
                error=error,
                error_code=error_code,
            )
        )

    async def attempt(
        self, provider: str, model: str, error: BaseException | None, duration_ms: int
    ) -> None:
        self.attempts += 1
        status = error.status_code if isinstance(error, ProviderError) else None
        code = getattr(error, "code", None) if error is not None else None
        await self.store.save_attempt(
            AttemptRecord(
                request_id=self.request_id,
                attempt=self.attempts,
                provider=provider,
                model=model,
                outcome="success" if error is None else "failure",
                error_code=code if isinstance(code, str) else None,
                error=None if error is None else error_text(error),
                status_code=status,
                duration=duration_ms,
                created_at=now_ms(),
            )
        )

    async def response(self, response: ProviderResponse) -> None:
        await self.store.save_response(response)

    async def chunks(self, chunks: Sequence[tuple[int, str, int]]) -> None:
        if chunks:
            await self.store.save_stream_chunks(self.request_id, chunks)

    async def final(self, machine: ProviderStateMachine) -> None:
        """The terminal state. The row keeps the provider and model that were asked for; the
        response row names the one that served."""
        ctx = machine.context
        await self.store.update_request_state(
            self.request_id,
            state=str(machine.state),
            retry_count=ctx.retry_count,
            history=machine.history,
            error=None if ctx.error is None else redact(ctx.error)[:2000],
            error_code=ctx.error_code,
            updated_at=now_ms(),
        )
