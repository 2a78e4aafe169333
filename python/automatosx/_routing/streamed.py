"""A streamed request's own transitions: :class:`StreamRun`, the ``Run`` of ``stream()``.

The stream wrapper (``stream.py``) does the I/O and hands each chunk in (:meth:`deliver`,
:meth:`deliver_tool_call`) and the stream's end (:meth:`streamed`); the run keeps the chunks,
the restart marks and the machine. Everything else is :class:`~automatosx._routing.run.Run`'s.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from automatosx._clock import now_ms
from automatosx._core import Event
from automatosx._routing.run import Run
from automatosx.schemas import ProviderResponse, StreamChunk, ToolCall

if TYPE_CHECKING:
    from automatosx._routing.plan import Deployment
    from automatosx.providers.base import StreamEnd

__all__ = ["StreamRun"]


class StreamRun(Run):
    """The Run of a streamed request."""

    __slots__ = ()

    def completion(self, response: ProviderResponse) -> Event:
        usage = response.tokens
        return Event.stream_complete(
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            total_tokens=usage.total_tokens,
            duration_ms=(time.perf_counter_ns() - self.started_ns) // 1_000_000,
        )

    def deliver(self, text: str) -> StreamChunk:
        """A chunk of text (or, empty, a tool call's place) reaches the caller."""
        index = self.delivered
        self.machine.transition(Event.receive_stream_chunk(chunk=text, index=index))
        ts = time.time_ns() // 1_000_000
        chunks = self.chunks
        chunks.append((len(chunks), text, ts))
        self.delivered = index + 1
        if self.restarting:
            self.restarting = False
            self.restarts += 1
            return StreamChunk._restarted(self.request.request_id, index, text, ts)
        return StreamChunk._chunk(self.request.request_id, index, text, False, ts)

    def deliver_tool_call(self, call: ToolCall) -> StreamChunk:
        """A completed tool call as a chunk of its own: empty text, the next index (the
        machine and the recorded chunks count it as empty text, so indices stay contiguous)."""
        chunk = self.deliver("")
        chunk.__dict__["tool_call"] = call
        return chunk

    async def streamed(self, dep: Deployment, end: StreamEnd) -> ProviderResponse:
        """The stream at ``dep`` reached its end: the request completes."""
        self.done_inflight()
        m = self.machine
        usage = end.usage
        duration = (time.perf_counter_ns() - self.started_ns) // 1_000_000
        m.transition(
            Event.stream_complete(
                input_tokens=usage.input_tokens,
                output_tokens=usage.output_tokens,
                total_tokens=usage.total_tokens,
                duration_ms=duration,
            )
        )
        ctx = m.context
        model = end.model or ctx.model
        prices = self.plan.prices
        response = ProviderResponse._trusted(
            request_id=self.request.request_id,
            provider=dep.name,
            model=model,
            content=ctx.response,
            tokens=usage,
            finish_reason=end.finish_reason,
            duration=duration,
            tool_calls=list(end.tool_calls) if end.tool_calls else [],
            cost=None if prices is None else prices.cost(dep.name, model, usage),
            metadata=None,
            created_at=now_ms(),
        )
        self.succeeded(dep, response)
        if self.info is not None:
            await self.ended(dep, self.began, None)
            await self.finish(response)
        return response

    def final_texts(self) -> list[str]:
        """The texts of the attempt that finished the stream (after any restart)."""
        chunks = self.chunks
        return [text for _, text, _ in chunks[len(chunks) - self.delivered :]]

    def done_chunk(self) -> StreamChunk:
        return StreamChunk._chunk(self.request.request_id, self.delivered, "", True, now_ms())
