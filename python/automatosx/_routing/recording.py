"""How one request's life becomes rows: the store is an observer of the request's events.

Each event is one store write; with the SQLite store's default durability that is only an
enqueue on its write-behind queue (``durability="sync"`` waits for the commit).
"""

from __future__ import annotations

from typing import Any

from automatosx.errors import ProviderError, redact
from automatosx.observe import AttemptInfo, Observer, Outcome, RequestInfo
from automatosx.schemas import _now_ms as now_ms
from automatosx.store._messages import LazyMessages, messages_json
from automatosx.store.base import AttemptRecord, RecordSink, RequestRecord
from automatosx.store.base import Outcome as AttemptOutcome

__all__ = ["LazyMessages", "StoreObserver", "messages_json", "now_ms"]


def error_text(error: BaseException) -> str:
    return redact(str(error))[:2000]


_OUTCOMES: dict[str, AttemptOutcome] = {"success": "success", "cancelled_hedge": "cancelled_hedge"}
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
                outcome=_OUTCOMES.get(attempt.outcome, "failure"),
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
