"""The write-behind fast path of the engine's stores: what the router's recorder calls.

A request is TWO queued entries: its row when it starts, and its end as one ``COMPOSITE``
entry (its successful attempt, its response, its chunks and its final state) that the writer
thread takes apart (``_batch_writer._parts``). Each is a plain tuple queued without a
coroutine (``WriteQueue.submit_nowait``); the stream's chunk rows, the messages' JSON and
the update folded into the insert are built by the writer thread, off the request's path.

Every method returns False, having queued nothing, when the write cannot be queued at once
(not open, ``sync`` durability, closing, spooling, back-pressure, a value to leave out and
report). Refused for back-pressure alone, the entry is kept: the recorder awaits
``enter_refused``, which waits for room once and queues it (a request's end stays one entry
in a burst). Otherwise the recorder awaits the ``save_*`` calls, which wait, spool and
report as they must. The rows written are the ones the ``save_*`` calls write.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from automatosx.schemas import ProviderResponse
from automatosx.store._queue import Note, WriteQueue
from automatosx.store._rows import MESSAGES, dumps, history_json, response_row
from automatosx.store._schema import COMPOSITE, INSERT_ATTEMPT, INSERT_REQUEST
from automatosx.store.base import ChunkRow

__all__ = ["FastWrites", "bind_messages"]


class FastWrites:
    """Mixed into :class:`~automatosx.store._engine.SQLStore`."""

    _queue: WriteQueue | None
    _sync: bool
    _owner: str

    def request_nowait(
        self,
        request_id: str,
        provider: str,
        model: str,
        messages: Any,
        max_tokens: int | None,
        temperature: float,
        stream: bool,
        history: list[str],
        created_at: int,
        metadata: dict[str, Any] | None,
        tenant: str | None,
        user: str | None,
    ) -> bool:
        """``save_request`` of a request that starts (state ``requesting``, no retry yet);
        ``messages``: text, or a LazyText the writer serializes."""
        queue = self._queue
        if queue is None or self._sync:
            return False
        if metadata is not None:
            try:
                metadata = dumps(metadata)  # type: ignore[assignment]
            except Exception:
                return False  # save_request leaves it out and reports it
        row = (
            request_id,
            provider,
            model,
            messages,
            max_tokens,
            temperature,
            stream,
            "requesting",
            0,
            None,
            None,
            history_json(history),
            created_at,
            created_at,
            metadata,
            tenant,
            user,
            self._owner,
        )
        prepare = None if type(messages) is str else bind_messages
        return queue.submit_nowait(INSERT_REQUEST, row, request_id, prepare)

    def attempt_nowait(self, row: tuple[Any, ...]) -> bool:
        """``save_attempt`` of an attempt row (``_rows.attempt_row``'s values)."""
        queue = self._queue
        if queue is None or self._sync:
            return False
        return queue.submit_nowait(INSERT_ATTEMPT, row, row[0])

    def finish_request_nowait(
        self,
        request_id: str,
        attempt: tuple[Any, ...] | None,
        response: ProviderResponse | None,
        chunks: Sequence[ChunkRow] | None,
        state: str,
        retry_count: int,
        history: list[str],
        error: str | None,
        error_code: str | None,
        updated_at: int,
    ) -> bool:
        """A request's end as ONE queued entry: its last attempt's row (or None), its
        response, its chunks and its final state, written and reported part by part as
        ``save_attempt``, ``save_response``, ``save_stream_chunks`` and
        ``update_request_state`` would."""
        queue = self._queue
        if queue is None or self._sync:
            return False
        parts = 1
        response_values = None
        if response is not None:
            metadata = response.metadata
            if metadata is not None:
                try:
                    metadata = dumps(metadata)  # type: ignore[assignment]
                except Exception:
                    return False  # save_response leaves it out and reports it
            response_values = response_row(response, metadata)  # type: ignore[arg-type]
            parts = 2
        if attempt is not None:
            parts += 1
        if chunks:
            parts += 1
        else:
            chunks = None
        state_values = (
            state,
            retry_count,
            history_json(history),
            error,
            error_code,
            updated_at,
            request_id,
        )
        return queue.submit_nowait(
            COMPOSITE, (attempt, response_values, chunks, state_values), request_id, None, parts
        )

    async def enter_refused(self, request_id: str) -> bool:
        """After a ``*_nowait`` call refused for back-pressure alone: wait for room, then
        queue the entry it built (True). False, nothing queued: the ``save_*`` calls' turn."""
        queue = self._queue
        if queue is None:
            return False
        return await queue.enter_refused(request_id)

    def _json(self, key: str, kind: str, value: dict[str, Any] | None) -> str | None:
        """``value`` as JSON; one that cannot be encoded is left out and reported, so a
        caller's odd metadata never fails its request."""
        if value is None:
            return None
        try:
            return dumps(value)
        except Exception as exc:
            if self._queue is not None:
                self._queue.report(key, kind, exc)
            return None


def bind_messages(row: tuple[Any, ...], notes: list[Note]) -> tuple[Any, ...]:
    """In the writer: the messages column as text (a LazyText is serialized here); text
    that cannot be produced is left out (``null``) and reported."""
    try:
        text = str(row[MESSAGES])
    except Exception as exc:
        notes.append((row[0], "save_request.messages", exc))
        text = "null"
    return (*row[:MESSAGES], text, *row[MESSAGES + 1 :])
